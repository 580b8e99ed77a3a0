"""Pose estimation next to a camera driver: ros2 launch mveq_ros pose.launch.py [image_topic:=...]."""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

from mveq_ros.presets import CAMERA_RATE


def _pose_node(context):
    overrides = {}
    objects = LaunchConfiguration("objects").perform(context) or LaunchConfiguration("db").perform(context)
    if objects:
        overrides["objects"] = [o.strip() for o in objects.split(",") if o.strip()]
    device = LaunchConfiguration("device").perform(context)
    if device:
        overrides["device"] = device
    if LaunchConfiguration("camera_rate").perform(context).lower() in ("true", "1"):
        overrides.update(CAMERA_RATE)
    return [
        Node(
            package="mveq_ros",
            executable="pose_estimator",
            name="pose_estimator",
            namespace=LaunchConfiguration("namespace"),
            parameters=[LaunchConfiguration("config"), overrides],
            remappings=[
                ("image", LaunchConfiguration("image_topic")),
                ("camera_info", LaunchConfiguration("camera_info_topic")),
                ("mask", LaunchConfiguration("mask_topic")),
                ("depth", LaunchConfiguration("depth_topic")),
            ],
            output="screen",
            emulate_tty=True,
        )
    ]


def generate_launch_description():
    share = FindPackageShare("mveq_ros")
    return LaunchDescription(
        [
            DeclareLaunchArgument("image_topic", default_value="/camera/color/image_raw", description="sensor_msgs/Image input"),
            DeclareLaunchArgument("camera_info_topic", default_value="/camera/color/camera_info", description="sensor_msgs/CameraInfo input"),
            DeclareLaunchArgument("mask_topic", default_value="/camera/object_mask", description="optional mask (use_mask: true)"),
            DeclareLaunchArgument("depth_topic", default_value="/camera/aligned_depth_to_color/image_raw", description="optional depth registered to the colour image (use_depth: true)"),
            DeclareLaunchArgument("config", default_value=PathJoinSubstitution([share, "config", "pose.yaml"]), description="parameter file"),
            DeclareLaunchArgument("objects", default_value="", description="comma-separated databases ('path', 'name=path', 'bundled:NAME'); '' = config"),
            DeclareLaunchArgument("db", default_value="", description="alias of objects"),
            DeclareLaunchArgument("device", default_value="", description="cpu | cuda | auto ('' = config)"),
            DeclareLaunchArgument("camera_rate", default_value="false", description="CUDA: tracking mode, compiled gpu PnP, box queries and CUDA graphs (mveq_ros.presets.CAMERA_RATE; over the config)"),
            DeclareLaunchArgument("use_tracker", default_value="false", description="also start the point tracker"),
            DeclareLaunchArgument("tracking_config", default_value=PathJoinSubstitution([share, "config", "tracking.yaml"])),
            DeclareLaunchArgument("namespace", default_value="mveq", description="namespace of the nodes"),
            OpaqueFunction(function=_pose_node),
            Node(
                package="mveq_ros",
                executable="point_tracker",
                name="point_tracker",
                namespace=LaunchConfiguration("namespace"),
                parameters=[LaunchConfiguration("tracking_config")],
                remappings=[("image", LaunchConfiguration("image_topic")), ("mask", LaunchConfiguration("mask_topic"))],
                condition=IfCondition(LaunchConfiguration("use_tracker")),
                output="screen",
            ),
        ]
    )
