"""The latency benchmark's set-up for the device scripts that time the camera-rate path
(match_dims_ab.py, profile_switches.py): the features by model name, the bundled drill's 96-view
CAD database, the three switches' pose configuration (box queries, compiled gpu PnP; the features
carry the CUDA graphs) and the benchmark's 205 rendered 640 x 480 frames with their boxes."""

from dataclasses import replace

from mveq_core.benchmarks.rendered_pose import QueryConfig, render_queries
from mveq_core.bundled import SAMPLE_OBJECT
from mveq_core.cad_database import WHOLE_RENDERS, CadDatabaseConfig, build_database_from_mesh
from mveq_core.crop import mask_box
from mveq_core.features import OFFLINE_DEFAULT, DenseFeatures, FeatureConfig
from mveq_core.pnp import PnPConfig
from mveq_core.pose import PoseConfig
from mveq_core.render import load_mesh


def camera_rate_features(model: str = "offline-default", precision: str = "auto") -> DenseFeatures:
    """``offline-default`` or a backbone name (random init), on CUDA with CUDA graphs."""
    config = OFFLINE_DEFAULT if model == "offline-default" else FeatureConfig(backbone=model, weights="random")
    return DenseFeatures.create(replace(config, device="cuda", cuda_graphs=True, precision=precision))


def drill_frames(features: DenseFeatures):
    """(database, pose config of the three switches, the 205 frames, their boxes)."""
    mesh = load_mesh(SAMPLE_OBJECT)
    db = build_database_from_mesh(features, mesh, "drill", CadDatabaseConfig(**WHOLE_RENDERS), progress=False)
    queries = render_queries(mesh, QueryConfig(count=205, width=640, height=480))
    return db, PoseConfig(box_queries=True, pnp=PnPConfig(backend="gpu", compile=True)), queries, [mask_box(q.mask) for q in queries]
