"""mveq bench latency: every mode is timed per stage on the same frames, the reference protocol runs
the paper's steps (whole image, one similarity block, OpenCV EPnP RANSAC 10K), speed-ups are ratios."""

import pytest

from mveq_core.benchmarks.latency import format_table, reference_config, run_latency
from mveq_core.benchmarks.rendered_pose import QueryConfig, render_queries
from mveq_core.cad_database import CadDatabaseConfig, build_database_from_mesh
from mveq_core.pnp import PnPConfig
from mveq_core.pose import PoseConfig


def test_reference_config_is_the_papers_steps():
    ref = reference_config(PoseConfig(input_size=256, pnp=PnPConfig(backend="gpu", iterations=50, threshold_px=2.0)))
    assert ref.input_size is None and not ref.refine_with_crop and ref.search == "two-pass"
    assert ref.max_elements >= 2**40 and ref.retrieval_views == 0
    assert (ref.pnp.backend, ref.pnp.iterations, ref.pnp.threshold_px) == ("opencv", 10_000, 8.0)


def test_latency_runs_every_mode_on_the_same_frames(procedural_mesh, tiny_features):
    db = build_database_from_mesh(tiny_features, procedural_mesh, "toy", CadDatabaseConfig(views=4, image_size=96, max_features=5000), progress=False)
    queries = render_queries(procedural_mesh, QueryConfig(count=3, width=160, height=120, focal=150.0))
    base = PoseConfig(input_size=96, pnp=PnPConfig(iterations=100))
    report = run_latency(tiny_features, tiny_features, db, queries, ["poselib"], base, warmup=1)
    assert list(report["runs"]) == ["poselib box", "poselib search", "reference protocol"]
    for run in report["runs"].values():
        assert run["frames"] == 2 and run["median_ms"]["wall"] > 0 and run["p95_ms"]["wall"] >= run["median_ms"]["wall"]
        assert 0.0 <= run["success_5deg_5cm"] <= 1.0 and run["peak_gpu_memory_mib"] is None  # CPU
    assert "first_pass" not in report["runs"]["poselib box"]["median_ms"]  # a box: one pass
    ref_wall = report["runs"]["reference protocol"]["median_ms"]["wall"]
    assert report["speedup_vs_reference"]["poselib box"] == pytest.approx(ref_wall / report["runs"]["poselib box"]["median_ms"]["wall"])
    assert "speed-up of poselib box over the reference protocol" in format_table(report)
    with pytest.raises(ValueError, match="need more than 3 queries"):
        run_latency(tiny_features, None, db, queries, ["poselib"], base, warmup=3)
