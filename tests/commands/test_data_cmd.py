"""End-to-end ``saunet data check`` through ``saunet.cli.main``."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from saunet.cli import main

REPO = Path(__file__).resolve().parents[2]


def _real_root() -> Path:
    env = os.environ.get("SAUNET_DATA")
    return Path(env) if env else (REPO / ".." / "shared" / "data").resolve()


def test_data_check_drive(capsys):
    root = _real_root()
    if not (root / "DRIVE").is_dir():
        pytest.skip(f"real data not found at {root} (set SAUNET_DATA)")
    assert main(["data", "check", "--dataset", "drive", "--data-root", str(root)]) == 0
    out = capsys.readouterr().out
    assert "dataset drive: OK" in out
    lines = {ln.split()[0]: ln for ln in out.splitlines()[2:]}
    assert lines["train"].split()[1] == "20" and lines["test"].split()[1] == "20"
    assert "584x565" in lines["test"] and "2nd observer for 20" in lines["test"]
    assert "8.76%" in lines["test"]  # first observer, all pixels


def _folder(tmp_path: Path) -> None:
    for d in ("img", "lab"):
        (tmp_path / d).mkdir()
    for i in range(2):
        img = np.zeros((20, 24, 3), np.uint8)
        img[3:17, 4:20] = 150
        Image.fromarray(img).save(tmp_path / "img" / f"eye{i}.jpg")
        Image.fromarray(np.eye(20, 24, dtype=bool)).save(tmp_path / "lab" / f"eye{i}_label.png")


def test_data_check_folder_ok_and_missing_label(tmp_path, capsys):
    _folder(tmp_path)
    argv = ["data", "check", "--dataset", "folder", "--data-root", str(tmp_path)]
    assert main(argv + ["--images", "img", "--labels", "lab"]) == 0
    out = capsys.readouterr().out
    assert "dataset folder: OK" in out and "FOV estimated for 2" in out and "20x24" in out
    (tmp_path / "lab" / "eye1_label.png").unlink()
    assert main(argv + ["--images", "img", "--labels", "lab"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "eye1.jpg: no label in" in err and err.startswith("saunet data: error:")


def test_data_check_bad_root_exits_2(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("SAUNET_DATA", raising=False)
    assert main(["data", "check", "--dataset", "drive", "--data-root", str(tmp_path / "no")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "data root is not a folder" in err
    assert main(["data", "check", "--dataset", "chase"]) == 2
    assert "no data root: pass --data-root or set SAUNET_DATA" in capsys.readouterr().err
    assert main(["data", "check", "--dataset", "drive", "--data-root", str(tmp_path)]) == 2
    assert "DRIVE folder not found" in capsys.readouterr().err
    assert main(["data", "check", "--dataset", "folder", "--images", str(tmp_path)]) == 2
    assert "needs --images DIR and --labels DIR" in capsys.readouterr().err


def test_data_help_ends_with_example(capsys):
    with pytest.raises(SystemExit) as info:
        main(["data", "check", "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out.rstrip()
    assert out.splitlines()[-1].strip().startswith("saunet data check --dataset")
