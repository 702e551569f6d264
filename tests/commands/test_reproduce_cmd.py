"""``saunet reproduce``: argument wiring (the library is tested in tests/test_reproduce.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

import saunet.reporting.reproduce as rp
from saunet.cli import build_parser, main


@pytest.fixture
def captured(monkeypatch):
    calls = []

    def fake(datasets, recipe, **kw):
        calls.append((datasets, recipe, kw))
        return [rp.RunOutcome("drive", "sa-unet", 0, Path("runs/x"), "done", None)]

    monkeypatch.setattr(rp, "reproduce", fake)
    return calls


def test_all_datasets_defaults_and_overrides(captured, capsys, tmp_path):
    rc = main(["reproduce", "--dataset", "all", "--recipe", "cpu", "--minutes", "5",
               "--data-root", "ROOT", "--seeds", "2", "--set", "train.threads=1",
               "--results", str(tmp_path / "res"), "--report", str(tmp_path / "R.md")])  # fmt: skip
    assert rc == 0
    [(datasets, recipe, kw)] = captured
    assert datasets == ["drive", "chase"] and recipe == "cpu"
    assert kw["models"] == rp.ABLATION_MODELS and kw["seeds"] == 2 and kw["minutes"] == 5.0
    assert kw["data_root"] == "ROOT" and kw["out"] == Path("runs")
    assert kw["config_overrides"] == ["train.threads=1"] and kw["report"] == tmp_path / "R.md"
    assert "| drive | sa-unet | 0 | done |" in capsys.readouterr().out


def test_models_and_single_dataset(captured):
    assert (
        main(["reproduce", "--dataset", "chase", "--recipe", "paper", "--models", "sa-unet"]) == 0
    )
    [(datasets, recipe, kw)] = captured
    assert datasets == ["chase"] and recipe == "paper" and kw["models"] == ["sa-unet"]
    assert kw["minutes"] is None and kw["results_dir"] == Path("results")


def test_help_ends_with_runnable_examples(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["reproduce", "--help"])
    out = capsys.readouterr().out
    assert out.rstrip().splitlines()[-1].strip().startswith("saunet reproduce --dataset")
    assert "cpu-5min" in out


def test_invalid_recipe_is_an_argparse_error(capsys):
    with pytest.raises(SystemExit):
        main(["reproduce", "--dataset", "drive", "--recipe", "gpu"])
    assert "invalid choice" in capsys.readouterr().err
