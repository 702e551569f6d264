"""``saunet measure`` end to end: masks and photographs in, CSVs, pictures and a page out."""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "measure"))
from phantoms import draw, line  # noqa: E402

from saunet.cli import build_parser, main  # noqa: E402
from saunet.measure.image import MEASUREMENT_FIELDS, SEGMENT_FIELDS  # noqa: E402

SHAPE = (200, 240)


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture
def masks(tmp_path) -> tuple[Path, Path]:
    """Two vessel masks (a palette GIF and a 1-bit PNG, as DRIVE and CHASE_DB1 ship them)
    and a folder of FOV masks named after them."""
    d, f = tmp_path / "masks", tmp_path / "fov"
    d.mkdir()
    f.mkdir()
    arms = [line((100, 120), (20, 120)), line((100, 120), (180, 50)), line((100, 120), (180, 190))]
    y = draw(arms, 7, SHAPE, joins=[(100, 120)])
    tube = draw([line((100.5, 20), (100.5, 220))], 8, SHAPE)
    pal = Image.fromarray(y.astype(np.uint8), "P")
    pal.putpalette([0, 0, 0, 255, 255, 255])
    pal.save(d / "y.gif")
    Image.fromarray(tube).convert("1").save(d / "tube.png")
    rr, cc = np.mgrid[: SHAPE[0], : SHAPE[1]]
    fov = np.hypot(rr - 100, cc - 120) < 98
    for stem in ("y", "tube"):
        Image.fromarray(fov.astype(np.uint8) * 255).save(f / f"{stem}_mask.png")
    return d, f


def test_help_ends_with_example(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["measure", "--help"])
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[-1].strip().startswith("saunet measure ")


def test_masks_end_to_end(tmp_path, masks, capsys):
    d, f = masks
    out = tmp_path / "out"
    args = ["measure", "--masks", str(d), "--fov", str(f), "--um-per-px", "10"]
    assert main([*args, "--disc", "120,100,10", "--out", str(out)]) == 0
    assert "measured 2 of 2" in capsys.readouterr().out
    rows = {r["name"]: r for r in read_csv(out / "measurements.csv")}
    assert list(read_csv(out / "measurements.csv")[0]) == list(MEASUREMENT_FIELDS)
    y, tube = rows["y"], rows["tube"]
    # The palette GIF reads as vessels (not raw indices) and gives the Y's graph.
    assert (y["segments"], y["branch_points"], y["end_points"]) == ("3", "1", "3")
    assert (tube["segments"], tube["branch_points"], tube["end_points"]) == ("1", "0", "2")
    # The tube inside the FOV disc (radius 98 px): length 196 px, width 8 px.
    assert float(tube["skeleton_length_px"]) == pytest.approx(196, rel=0.03)
    assert float(tube["mean_width_px"]) == pytest.approx(8, rel=0.05)
    assert float(tube["mean_width_um"]) == pytest.approx(80, rel=0.05)
    assert float(tube["skeleton_length_mm"]) == pytest.approx(1.96, rel=0.03)
    assert tube["disc_source"] == "given" and tube["zone_b_density"] != ""
    segs = read_csv(out / "segments.csv")
    assert list(segs[0]) == list(SEGMENT_FIELDS)
    assert sorted(r["image"] for r in segs) == ["tube", "y", "y", "y"]
    for stem in ("y", "tube"):
        pic = np.asarray(Image.open(out / f"{stem}_measure.png"))
        assert pic.shape == (*SHAPE, 3) and pic.any()
    page = (out / "index.html").read_text()
    assert (
        "y_measure.png" in page
        and "<svg" in page
        and "http" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")
    )
    # Nothing is replaced without --overwrite; with it, the same rows come back.
    before = (out / "measurements.csv").read_text()
    assert main([*args, "--disc", "120,100,10", "--out", str(out)]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert main([*args, "--disc", "120,100,10", "--out", str(out), "--overwrite"]) == 0
    assert (out / "measurements.csv").read_text() == before


def test_without_scale_or_disc_the_columns_are_empty(tmp_path, masks):
    d, _ = masks
    out = tmp_path / "out"
    assert main(["measure", "--masks", str(d / "tube.png"), "--out", str(out)]) == 0
    (row,) = read_csv(out / "measurements.csv")
    assert row["um_per_px"] == "" and row["mean_width_um"] == ""
    assert row["fov_area_px"] == str(SHAPE[0] * SHAPE[1])  # no --fov: the whole image


def test_bad_inputs(tmp_path, masks, capsys):
    d, f = masks
    (d / "broken.png").write_bytes(b"\x89PNG not really")
    Image.fromarray(np.zeros((10, 10), np.uint8)).save(f / "broken_mask.png")
    out = tmp_path / "out"
    assert main(["measure", "--masks", str(d), "--fov", str(f), "--out", str(out)]) == 1
    rows = {r["name"]: r for r in read_csv(out / "measurements.csv")}
    assert rows["broken"]["status"].startswith("failed: ") and rows["y"]["status"] == "ok"
    assert "broken" in capsys.readouterr().out
    # Usage errors: one line, exit 2, nothing written.
    for bad in (["--disc", "1,2"], ["--um-per-px", "-1"], ["--weights", "drive"]):
        code = main(["measure", "--masks", str(d), "--out", str(tmp_path / "o2"), *bad])
        err = capsys.readouterr().err.strip().splitlines()
        assert code == 2 and len(err) == 1 and err[0].startswith("saunet measure: error:")
    assert not (tmp_path / "o2").exists()


@pytest.mark.usefixtures("one_thread")
def test_photographs_are_segmented_first(tmp_path, tiny_checkpoint):
    scale = {"fov_diameter_px": 40.0, "field_angle_deg": 45.0, "calibre_factor": 1.0}
    ckpt = tiny_checkpoint(tmp_path / "tiny.safetensors", threshold=0.5, scale=scale)
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:48, :64]
    disc = (yy - 24) ** 2 + (xx - 32) ** 2 < 21**2
    img = (rng.uniform(0.2, 0.9, (48, 64, 3)) * disc[..., None] * 255).astype(np.uint8)
    Image.fromarray(img).save(tmp_path / "photo.png")
    out = tmp_path / "out"
    args = ["measure", str(tmp_path / "photo.png"), "--weights", str(ckpt), "--device", "cpu"]
    assert main([*args, "--field-angle", "45", "--out", str(out)]) == 0
    (row,) = read_csv(out / "measurements.csv")
    assert row["status"] == "ok" and row["um_per_px"] != ""
    # The FOV came from the photograph (estimated), not the whole image.
    assert 0 < int(row["fov_area_px"]) < 48 * 64
    assert (out / "photo_measure.png").is_file() and (out / "index.html").is_file()


def test_drive_and_chase_label_files(tmp_path, shared_data_root):
    drive, chase = shared_data_root / "DRIVE" / "test", shared_data_root / "CHASEDB1"
    out = tmp_path / "out"
    args = ["measure", "--masks", str(drive / "1st_manual" / "01_manual1.gif"),
            "--fov", str(drive / "mask" / "01_test_mask.gif"), "--out", str(out)]  # fmt: skip
    assert main(args) == 0
    (row,) = read_csv(out / "measurements.csv")
    # Recognised as DRIVE (45 deg): about 24 um per px through the 540-px FOV.
    assert float(row["um_per_px"]) == pytest.approx(45 * 288 / 540, rel=0.02)
    assert 0.08 < float(row["vessel_density"]) < 0.2
    out2 = tmp_path / "out2"
    assert main(["measure", "--masks", str(chase / "Image_11L_2ndHO.png"), "--out", str(out2)]) == 0
    (row,) = read_csv(out2 / "measurements.csv")
    assert 0.03 < float(row["vessel_density"]) < 0.2  # the 1-bit PNG reads as vessels
