"""Point tracking on a camera stream: ros2 launch mveq_ros tracking.launch.py image_topic:=..."""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare


def generate_launch_description():
    share = FindPackageShare("mveq_ros")
    return LaunchDescription(
        [
            DeclareLaunchArgument("image_topic", default_value="/camera/color/image_raw"),
            DeclareLaunchArgument("mask_topic", default_value="/camera/object_mask"),
            DeclareLaunchArgument("config", default_value=PathJoinSubstitution([share, "config", "tracking.yaml"])),
            DeclareLaunchArgument("device", default_value="auto"),
            DeclareLaunchArgument("namespace", default_value="mveq"),
            Node(
                package="mveq_ros",
                executable="point_tracker",
                name="point_tracker",
                namespace=LaunchConfiguration("namespace"),
                parameters=[LaunchConfiguration("config"), {"device": LaunchConfiguration("device")}],
                remappings=[("image", LaunchConfiguration("image_topic")), ("mask", LaunchConfiguration("mask_topic"))],
                output="screen",
            ),
        ]
    )
