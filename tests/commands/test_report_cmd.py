"""``saunet report``: rebuilds REPORT.md from a results folder, byte for byte."""

from __future__ import annotations

import json

import pytest

from saunet.cli import build_parser, main


def _results(root):
    d = root / "results" / "cpu" / "drive" / "sa-unet" / "seed0"
    d.mkdir(parents=True)
    (d / "run.json").write_text(json.dumps({"recipe_label": "cpu", "epochs_done": 3, "wall_minutes": 1.5,
                                            "config": "drive-cpu"}))  # fmt: skip
    (d / "log.csv").write_text("epoch,train_loss,val_loss,val_auc,val_f1\n1,0.5,0.6,0.8,0.5\n")
    return root / "results"


def test_report_command_is_reproducible(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("SAUNET_DATA", raising=False)
    results = _results(tmp_path)
    out = tmp_path / "REPORT.md"
    assert main(["report", str(results), "--out", str(out)]) == 0
    first = out.read_bytes()
    assert (
        main(["report", str(results), "--out", str(out), "--data-root", str(tmp_path / "none")])
        == 0
    )
    assert out.read_bytes() == first
    text = first.decode()
    assert (
        "| SA-UNet | ours (cpu) | not evaluated |" in text and "not the paper's 150-epoch" in text
    )
    assert f"wrote {out}" in capsys.readouterr().out


def test_missing_results_folder_exits_2(tmp_path, capsys):
    assert main(["report", str(tmp_path / "nope"), "--out", str(tmp_path / "R.md")]) == 2
    assert "results folder not found" in capsys.readouterr().err


def test_help_ends_with_runnable_examples(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["report", "--help"])
    assert (
        capsys.readouterr()
        .out.rstrip()
        .splitlines()[-1]
        .strip()
        .startswith("saunet report results/")
    )
