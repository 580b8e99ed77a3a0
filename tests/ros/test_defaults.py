"""One source of defaults: the CLI's pose/tracking options and the ROS nodes' parameters default to
the config dataclasses' values, and config/*.yaml hold overrides only."""

from pathlib import Path

import pytest
import yaml

from mveq_core.cli import build_parser
from mveq_core.pnp import PnPConfig
from mveq_core.pose import PoseConfig
from mveq_core.tracking import TrackerConfig

ROOT = Path(__file__).resolve().parents[2]
POSE, PNP, TRACKER = PoseConfig(), PnPConfig(), TrackerConfig()
CLI_POSE = {"backend": PNP.backend, "ransac_iters": PNP.iterations, "threshold": PNP.threshold_px, "min_inliers": PNP.min_inliers, "min_inlier_ratio": PNP.min_inlier_ratio,
            "input_size": POSE.input_size, "grid_stride": POSE.grid_stride, "crop_margin": POSE.crop_margin, "retrieval_views": POSE.retrieval_views, "grayscale_query": POSE.grayscale_query,
            "crop_quantum": POSE.crop_quantum, "matching": POSE.matching, "depth_refine": POSE.depth_refine, "match_dims": POSE.match_dims}  # fmt: skip
NODE_POSE = {"input_size": POSE.input_size, "grid_stride": POSE.grid_stride, "refine_with_crop": POSE.refine_with_crop, "pnp_backend": PNP.backend, "ransac_iterations": PNP.iterations,
             "ransac_threshold": PNP.threshold_px, "min_inliers": PNP.min_inliers, "min_inlier_ratio": PNP.min_inlier_ratio,
             "crop_quantum": POSE.crop_quantum, "matching": POSE.matching, "depth_refine": POSE.depth_refine, "mask_background": POSE.mask_background,
             "render_refine": POSE.render_refine, "retrieval_views": POSE.retrieval_views, "hypotheses": POSE.hypotheses, "hypothesis_score": POSE.hypothesis_score, "hypothesis_source": POSE.hypothesis_source, "refine_method": POSE.refine_method, "turn_rounds": POSE.turn_rounds,
             "box_queries": POSE.box_queries, "pnp_compile": PNP.compile, "box_mask": POSE.box_mask, "box_distance": POSE.box_distance, "match_dims": POSE.match_dims}  # fmt: skip


@pytest.mark.parametrize("argv", [["pose", "--db", "x.mvdb", "--image", "i.png", "--out", "o.json"], ["bench", "real", "--data", "d", "--out", "o"]])
def test_cli_pose_defaults_are_the_dataclasses(argv):
    args = build_parser().parse_args(argv)
    assert {k: getattr(args, k) for k in CLI_POSE} == CLI_POSE


def test_cli_tracking_defaults_are_the_dataclasses():
    args = build_parser().parse_args(["bench", "davis", "--pkl", "x.pkl", "--out", "o"])
    assert (args.patch_stride, args.occlusion_threshold, args.anchor_threshold) == (TRACKER.patch_stride, TRACKER.occlusion_threshold, TRACKER.anchor_threshold)


def test_camera_rate_preset_names_the_node_s_own_parameters(ros):
    """``camera_rate:=true`` (pose.launch.py) sets declared parameters of their declared types, and
    they give the estimator the camera-rate switches."""
    from mveq_core.backbones import create_backbone
    from mveq_core.features import DenseFeatures
    from mveq_core.pose import PoseEstimator
    from mveq_ros.pose_node import PoseEstimatorNode
    from mveq_ros.presets import CAMERA_RATE

    node = PoseEstimatorNode(estimator=PoseEstimator(DenseFeatures(create_backbone("tiny_vit14", "random"))))
    try:
        for name, value in CAMERA_RATE.items():
            assert type(node.get_parameter(name).value) is type(value), name
        config = node._pose_config(CAMERA_RATE)
        assert config.box_queries and config.pnp.compile and config.pnp.backend == "gpu"
    finally:
        node.shutdown_worker()
        node.destroy_node()
    assert "camera_rate" in (ROOT / "launch" / "pose.launch.py").read_text()


def test_node_defaults_are_the_dataclasses(ros, procedural_mesh):
    from mveq_core.backbones import create_backbone
    from mveq_core.features import DenseFeatures
    from mveq_core.pose import PoseEstimator
    from mveq_ros.pose_node import PoseEstimatorNode
    from mveq_ros.tracker_node import PointTrackerNode

    node = PoseEstimatorNode(estimator=PoseEstimator(DenseFeatures(create_backbone("tiny_vit14", "random"))))
    try:
        assert {k: node.get_parameter(k).value for k in NODE_POSE} == NODE_POSE
        assert node._pose_config({}) == PoseConfig(pnp=PnPConfig())  # parameters -> the same dataclasses
    finally:
        node.shutdown_worker()
        node.destroy_node()
    tracker = PointTrackerNode.__new__(PointTrackerNode)  # declarations only: no model is built
    import rclpy.node

    rclpy.node.Node.__init__(tracker, "tracker_defaults")
    try:
        PointTrackerNode._declare_parameters(tracker)
        got = {k: tracker.get_parameter(k).value for k in ("patch_stride", "video_height", "video_width", "occlusion_threshold", "softmax_radius")}
        assert got == {"patch_stride": TRACKER.patch_stride, "video_height": TRACKER.video_size[0], "video_width": TRACKER.video_size[1],
                       "occlusion_threshold": TRACKER.occlusion_threshold, "softmax_radius": TRACKER.softmax_radius_px}  # fmt: skip
    finally:
        tracker.destroy_node()


@pytest.mark.parametrize("name,node", [("pose.yaml", "pose_estimator"), ("tracking.yaml", "point_tracker")])
def test_yaml_configs_hold_overrides_only(name, node):
    params = yaml.safe_load((ROOT / "config" / name).read_text())[f"/**/{node}"]["ros__parameters"]
    assert set(params) <= {"use_sim_time"}, f"config/{name} repeats our defaults: {sorted(params)}"


def test_options_and_parameters_are_generated_from_the_dataclass_fields():
    """Every exposed field becomes a CLI option and/or a node parameter with the field's default and
    help; parsed options and parameter values come back as the same nested dataclasses."""
    from mveq_core.localize import LocalizeConfig
    from mveq_core.settings import exposed, from_args, from_values

    fields = exposed(PoseConfig())
    cli = {e.cli: e for e in fields if e.cli}
    assert {"--backend", "--ransac-iters", "--input-size", "--tiles", "--min-score", "--grayscale-query"} <= set(cli)
    help_text = build_parser()._subparsers._group_actions[0].choices["pose"].format_help()
    for e in cli.values():
        assert e.cli in help_text
    args = build_parser().parse_args(["pose", "--db", "x.mvdb", "--image", "i.png", "--out", "o.json", "--ransac-iters", "500", "--min-score", "0.7", "--grayscale-query", "--backend", "opencv"])
    config = from_args(PoseConfig(), args)
    assert config == PoseConfig(grayscale_query=True, pnp=PnPConfig(backend="opencv", iterations=500), localize=LocalizeConfig(min_score=0.7))
    ros = {e.ros: e for e in fields if e.ros}
    assert set(ros) == set(NODE_POSE)
    values = {name: e.default for name, e in ros.items()} | {"ransac_threshold": 4.0, "refine_with_crop": False}
    assert from_values(PoseConfig(), values.__getitem__) == PoseConfig(refine_with_crop=False, pnp=PnPConfig(threshold_px=4.0))
    with pytest.raises(ValueError, match="unknown PnP back-end"):
        from_values(PoseConfig(), (values | {"pnp_backend": "nope"}).__getitem__)


def test_node_parameter_descriptions_are_the_field_help(ros):
    from mveq_core.backbones import create_backbone
    from mveq_core.features import DenseFeatures
    from mveq_core.pose import PoseEstimator
    from mveq_core.settings import exposed
    from mveq_ros.pose_node import PoseEstimatorNode

    node = PoseEstimatorNode(estimator=PoseEstimator(DenseFeatures(create_backbone("tiny_vit14", "random"))))
    try:
        for e in exposed(PoseConfig()):
            if e.ros:
                assert node.describe_parameter(e.ros).description == e.help
    finally:
        node.shutdown_worker()
        node.destroy_node()


def test_every_subcommand_help_formats_and_cad_options_come_from_the_dataclass():
    import argparse

    from mveq_core.cad_database import CadDatabaseConfig
    from mveq_core.cli.options import cad_config_from_args

    def walk(parser):
        parser.format_help()  # a stray % in a generated help string fails here
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for sub in action.choices.values():
                    walk(sub)

    walk(build_parser())
    args = build_parser().parse_args(["db", "build", "--mesh", "m.obj", "--out", "o.mvdb", "--no-camera-effects", "--lighting-setups", "2", "--views", "12"])
    assert cad_config_from_args(args) == CadDatabaseConfig(camera_effects=False, lighting_setups=2, views=12)
    for argv in (["bench", "real", "--data", "d", "--out", "o"], ["bench", "rendered-pose", "--out", "o"], ["bench", "pose-speed", "--mesh", "m.obj"],
                 ["bench", "latency", "--out", "o"], ["bench", "ycbv", "--bop-root", "y", "--out", "o"]):
        assert cad_config_from_args(build_parser().parse_args(argv)) == CadDatabaseConfig(), argv  # every CAD-building command


def test_value_checks_live_in_the_dataclasses_and_name_option_and_parameter(capsys):
    from mveq_core.cli import main

    with pytest.raises(ValueError, match=r"iterations \(--ransac-iters, ransac_iterations\) must be positive, got 0"):
        PnPConfig(iterations=0)
    with pytest.raises(ValueError, match=r"min_inlier_ratio .* must be in \[0, 1\], got 1.5"):
        PnPConfig(min_inlier_ratio=1.5)
    for bad in (dict(grid_stride=0), dict(input_size=-1)):
        with pytest.raises(ValueError, match="must be positive"):
            PoseConfig(**bad)
    assert PoseConfig(input_size=None).input_size is None  # None: no resize
    assert main(["-q", "pose", "--db", "x.mvdb", "--image", "i.png", "--K", "500,500,320,240", "--out", "o.json", "--grid-stride", "0"]) == 2
    assert "grid_stride (--grid-stride, grid_stride) must be positive, got 0" in capsys.readouterr().err


def test_tracking_options_and_parameters_are_generated_from_the_dataclass():
    """TrackerConfig's option() fields give `bench davis` its options and the tracker node its
    parameters; 0 for the patch stride means the features' own grid (None) both ways."""
    from mveq_core.settings import exposed, from_args, from_values
    from mveq_core.tracking import TrackerConfig

    fields = exposed(TrackerConfig())
    assert {e.cli for e in fields if e.cli} == {"--patch-stride", "--occlusion-threshold", "--anchor-threshold"}
    assert {e.ros for e in fields if e.ros} == {"patch_stride", "occlusion_threshold", "softmax_radius"}
    args = build_parser().parse_args(["bench", "davis", "--pkl", "x.pkl", "--out", "o", "--patch-stride", "0", "--occlusion-threshold", "0.5"])
    assert from_args(TrackerConfig(), args) == TrackerConfig(patch_stride=None, occlusion_threshold=0.5)
    values = {"patch_stride": 14, "occlusion_threshold": 0.65, "softmax_radius": 20.0}
    assert from_values(TrackerConfig(), values.__getitem__) == TrackerConfig(patch_stride=14, occlusion_threshold=0.65, softmax_radius_px=20.0)
    assert TrackerConfig(patch_stride=0).patch_stride is None


def test_other_commands_take_their_defaults_from_the_dataclasses():
    """demo's input size, bench pnp's RANSAC settings, bench tracking-mode's failure count and the
    feature precision come from PoseConfig, PnPConfig, TrackingConfig and FeatureConfig."""
    from mveq_core.features import FeatureConfig
    from mveq_core.pose_tracking import TrackingConfig

    parser = build_parser()
    assert parser.parse_args(["demo"]).input_size == POSE.input_size
    args = parser.parse_args(["bench", "pnp", "--out", "o"])
    assert (args.ransac_iters, args.threshold) == (PNP.iterations, PNP.threshold_px)
    assert parser.parse_args(["bench", "tracking-mode", "--out", "o"]).max_failures == TrackingConfig().max_failures
    assert parser.parse_args(["pose", "--db", "x.mvdb", "--image", "i.png", "--out", "o.json"]).precision == FeatureConfig().precision
