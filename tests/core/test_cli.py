import json

import pytest

from mveq_core.cli import main


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
        (["adapter", "import-official", "/no/such.ckpt", "--out", "x"], "/no/such.ckpt"),
    ],
)
def test_bad_input_exits_non_zero_with_one_readable_line(argv, needle, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["-q", *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("mveq: error:") and needle in err[0]
