"""Segmenter and the file pipeline: conversions, scale, threshold, outputs, sharding."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from saunet.errors import UserError
from saunet.inference.inputs import demo_source, expand_inputs, match_fov_masks
from saunet.inference.overlay import overlay
from saunet.inference.segment_files import segment_files, summary_name
from saunet.inference.segmenter import Segmenter, as_rgb_float, weights_threshold
from saunet.inference.summary import SUMMARY_FIELDS

pytestmark = pytest.mark.usefixtures("one_thread")


def fundus(h: int = 60, w: int = 76, seed: int = 0) -> np.ndarray:
    """uint8 photo: a textured disc on black."""
    yy, xx = np.mgrid[:h, :w]
    disc = (yy - h / 2) ** 2 + (xx - w / 2) ** 2 < (0.45 * min(h, w)) ** 2
    rng = np.random.default_rng(seed)
    return (rng.uniform(60, 220, (h, w, 3)) * disc[..., None]).astype(np.uint8)


@pytest.fixture
def seg(tmp_path, tiny_checkpoint) -> Segmenter:
    ckpt = tiny_checkpoint(tmp_path / "tiny.safetensors")
    return Segmenter.from_weights(str(ckpt), device="cpu", precision="fp32")


def test_as_rgb_float_conversions():
    g8 = np.full((3, 4), 255, np.uint8)
    assert as_rgb_float(g8).shape == (3, 4, 3) and as_rgb_float(g8).max() == 1.0
    assert as_rgb_float(np.full((3, 4), 65535, np.uint16)).max() == 1.0
    rgba = np.zeros((3, 4, 4), np.float32)
    rgba[..., :3], rgba[..., 3] = 1.0, 0.5
    np.testing.assert_allclose(as_rgb_float(rgba), 0.5)
    with pytest.raises(ValueError, match="divide"):
        as_rgb_float(np.full((3, 4, 3), 200.0))
    with pytest.raises(ValueError):
        as_rgb_float(np.zeros((3, 4, 2), np.uint8))


def test_weights_threshold_forms():
    assert weights_threshold({}) == 0.5
    assert weights_threshold({"threshold": 0.42}) == 0.42
    assert weights_threshold({"threshold": {"paper": 0.5, "fov": 0.47}}) == 0.47


def test_segment_result(seg):
    img = fundus()
    res = seg.segment(img)
    assert res.prob.shape == res.mask.shape == res.fov.shape == (60, 76)
    assert res.prob.dtype == np.float32 and res.mask.dtype == bool
    assert res.threshold == 0.5 and res.fov_source == "estimated" and res.scale == 1.0
    assert not (res.mask & ~res.fov).any()
    np.testing.assert_array_equal(res.mask, (res.prob >= 0.5) & res.fov)
    low = seg.segment(img, threshold=0.0, fov=np.ones((60, 76), bool))
    assert low.mask.all() and low.fov_source == "given" and low.vessel_fraction == 1.0
    # uint8 and float input give the same map
    np.testing.assert_allclose(seg.segment(img.astype(np.float32) / 255).prob, res.prob, atol=1e-6)


def test_segment_scale_from_metadata(tmp_path, tiny_checkpoint):
    ckpt = tiny_checkpoint(tmp_path / "s.safetensors", scale={"fov_diameter_px": 27.0})
    seg = Segmenter.from_weights(str(ckpt), device="cpu", precision="fp32")
    res = seg.segment(fundus())  # FOV diameter 54 -> scale 0.5
    assert res.scale == pytest.approx(0.5, abs=0.02)
    assert res.prob.shape == (60, 76)
    assert seg.segment(fundus(), scale=1).scale == 1.0
    with pytest.raises(ValueError):
        seg.segment(fundus(), fov=np.ones((5, 5), bool))


def test_overlay_tints_vessels():
    img = np.zeros((4, 5, 3), np.float32)
    mask = np.zeros((4, 5), bool)
    mask[1, 2] = True
    out = overlay(img, mask, alpha=1.0)
    assert out.dtype == np.uint8 and out.shape == (4, 5, 3)
    assert tuple(out[1, 2]) != (0, 0, 0) and out[0, 0].sum() == 0


def _write_images(folder: Path, names: list[str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i, n in enumerate(names):
        Image.fromarray(fundus(seed=i)).save(folder / n)


def test_expand_inputs(tmp_path):
    _write_images(tmp_path / "a", ["x.png", "y.jpg"])
    (tmp_path / "a" / "notes.txt").write_text("not an image")
    _write_images(tmp_path / "b", ["z.tif"])
    srcs = expand_inputs(
        [str(tmp_path / "a"), str(tmp_path / "b" / "*.tif"), str(tmp_path / "a" / "x.png")]
    )
    assert [s.name for s in srcs] == ["x", "y", "z"]  # sorted, duplicates removed
    for bad in (str(tmp_path / "missing.png"), str(tmp_path / "*.gif")):
        with pytest.raises(UserError):
            expand_inputs([bad])
    _write_images(tmp_path / "c", ["x.png"])
    with pytest.raises(UserError, match="same name stem"):
        expand_inputs([str(tmp_path / "a"), str(tmp_path / "c")])


def test_match_fov_masks(tmp_path):
    _write_images(tmp_path / "im", ["p.png", "q.png"])
    (tmp_path / "m").mkdir()
    for n in ("p_mask.png", "q.gif"):
        Image.fromarray(np.full((60, 76), 255, np.uint8)).save(tmp_path / "m" / n)
    srcs = expand_inputs([str(tmp_path / "im")])
    got = match_fov_masks(srcs, tmp_path / "m")
    assert got == {"p": tmp_path / "m" / "p_mask.png", "q": tmp_path / "m" / "q.gif"}
    with pytest.raises(UserError, match="exactly one input"):
        match_fov_masks(srcs, tmp_path / "m" / "q.gif")
    (tmp_path / "m" / "q.gif").unlink()
    with pytest.raises(UserError, match="no mask for"):
        match_fov_masks(srcs, tmp_path / "m")


def _outputs(folder: Path) -> list[str]:
    """The per-image files of a segment run (not the summaries)."""
    return sorted(p.name for p in folder.iterdir() if not p.name.startswith("summary"))


def _read_csv(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_sharded_runs_equal_single_run(tmp_path, seg):
    _write_images(tmp_path / "in", ["a.png", "b.png", "c.png"])
    srcs = expand_inputs([str(tmp_path / "in")])
    single = segment_files(seg, srcs, tmp_path / "one", rank=0, world=1, progress=False)
    assert single.summary.name == "summary.csv" and not single.failed
    for r in range(2):
        rep = segment_files(seg, srcs, tmp_path / "two", rank=r, world=2, progress=False)
        assert rep.summary.name == summary_name(r, 2) == f"summary-rank{r}-of-2.csv"
    one = _outputs(tmp_path / "one")
    two = _outputs(tmp_path / "two")
    assert one == two and len(one) == 9
    for name in one:
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes()
    rows = _read_csv(tmp_path / "one" / "summary.csv")
    assert tuple(rows[0]) == SUMMARY_FIELDS
    parts = [r for k in range(2) for r in _read_csv(tmp_path / "two" / summary_name(k, 2))]
    assert sorted(r["name"] for r in parts) == [r["name"] for r in rows] == ["a", "b", "c"]


def test_existing_outputs_block_and_overwrite(tmp_path, seg):
    _write_images(tmp_path / "in", ["a.png"])
    srcs = expand_inputs([str(tmp_path / "in")])
    out = tmp_path / "out"
    out.mkdir()
    (out / "a_mask.png").write_bytes(b"old")
    with pytest.raises(UserError, match="a_mask.png"):
        segment_files(seg, srcs, out, rank=0, world=1, progress=False)
    assert sorted(p.name for p in out.iterdir()) == ["a_mask.png"]  # nothing written
    segment_files(seg, srcs, out, overwrite=True, rank=0, world=1, progress=False)
    assert (out / "a_mask.png").read_bytes() != b"old"


def test_demo_source_is_the_skimage_retina():
    src = demo_source()
    assert src.name == "retina" and src.path is None
    img = src.load()
    assert img.ndim == 3 and img.shape[2] == 3 and img.dtype == np.float32 and img.max() <= 1


def test_compile_policy():
    from saunet.inference.segmenter import COMPILE_MIN_IMAGES, want_compile

    assert want_compile("on", 1, "torch", "cpu") and not want_compile("off", 10**6, "torch", "cpu")
    assert want_compile("auto", COMPILE_MIN_IMAGES, "torch", "cpu")
    assert not want_compile("auto", COMPILE_MIN_IMAGES - 1, "torch", "cpu")
    assert not want_compile("auto", COMPILE_MIN_IMAGES, "onnx", "cpu")
    assert not want_compile("auto", COMPILE_MIN_IMAGES, "torch", "cpu", threads=2)  # lanes
    with pytest.raises(ValueError, match="compile mode"):
        want_compile("maybe", 1, "torch", "cpu")


def test_failed_compilation_falls_back_to_eager(tmp_path, tiny_checkpoint, monkeypatch, caplog):
    import saunet.inference.fast

    def broken(model):
        def fail(x):
            raise RuntimeError("no C++ compiler\nlong details")

        return fail

    monkeypatch.setattr(saunet.inference.fast, "compile_for_inference", broken)
    ckpt = tiny_checkpoint(tmp_path / "tiny.safetensors")
    eager = Segmenter.from_weights(str(ckpt), device="cpu", precision="fp32")
    compiled = Segmenter.from_weights(str(ckpt), device="cpu", precision="fp32", compile=True)
    img = fundus()
    with caplog.at_level("WARNING"):
        got = compiled.segment(img).prob
    assert "torch.compile failed (no C++ compiler); running eagerly" in caplog.text
    assert compiled.predictor.compiled is None
    np.testing.assert_array_equal(got, eager.segment(img).prob)


def test_serial_run_writes_the_same_files_as_the_pipeline(tmp_path, seg):
    _write_images(tmp_path / "in", ["a.png", "b.png"])
    srcs = expand_inputs([str(tmp_path / "in")])
    segment_files(seg, srcs, tmp_path / "p", rank=0, world=1, progress=False)
    segment_files(seg, srcs, tmp_path / "s", rank=0, world=1, progress=False, pipeline=False)
    names = _outputs(tmp_path / "p")
    assert len(names) == 6 and names == _outputs(tmp_path / "s")
    for n in names:
        assert (tmp_path / "p" / n).read_bytes() == (tmp_path / "s" / n).read_bytes()


def test_ranks_share_a_folder_but_a_rank_runs_once(tmp_path, seg):
    from saunet.inference.segment_files import lock_name
    from saunet.utils.lock import FolderBusy, FolderLock

    _write_images(tmp_path / "in", ["a.png", "b.png"])
    srcs = expand_inputs([str(tmp_path / "in")])
    out = tmp_path / "out"
    with FolderLock(out, "saunet segment", lock_name(0, 2)):  # rank 0 of 2 at work
        with pytest.raises(FolderBusy, match="saunet segment"):
            segment_files(seg, srcs, out, rank=0, world=2, progress=False)
        rep = segment_files(seg, srcs, out, rank=1, world=2, progress=False)
    assert [r["status"] for r in rep.rows] == ["ok"]


def test_resume_keeps_recorded_images_only_when_their_input_is_the_same(tmp_path, seg):
    _write_images(tmp_path / "in", ["a.png", "b.png"])
    srcs = expand_inputs([str(tmp_path / "in")])
    out = tmp_path / "out"
    with pytest.raises(UserError, match="--resume .* --overwrite"):
        segment_files(seg, srcs, out, resume=True, overwrite=True, rank=0, world=1)
    segment_files(seg, srcs, out, rank=0, world=1, progress=False)
    before = _read_csv(out / "summary.csv")
    stamps = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    again = segment_files(seg, srcs, out, resume=True, rank=0, world=1, progress=False)
    assert again.rows == before == _read_csv(out / "summary.csv")
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir() if p.name != "summary.csv"} == {
        n: t for n, t in stamps.items() if n != "summary.csv"
    }  # nothing redone
    # Same stems from another folder: not the recorded inputs, segmented again.
    _write_images(tmp_path / "other", ["a.png", "b.png"])
    moved = expand_inputs([str(tmp_path / "other")])
    rep = segment_files(seg, moved, out, resume=True, rank=0, world=1, progress=False)
    assert [r["input"] for r in _read_csv(out / "summary.csv")] == [s.input for s in moved]
    assert all(r["status"] == "ok" for r in rep.rows)


@pytest.mark.parametrize("with_fov", [False, True])
def test_overlay_matches_the_plain_formula(with_fov):
    """Round half to even of ``x * 255``, outside the FOV halved, vessels blended 70 % with
    the colour: the lookup-table drawing gives exactly these pixels, halves included."""
    rng = np.random.default_rng(5)
    img = rng.random((40, 50, 3)).astype(np.float32)
    img[0, :3] = np.array([1, 3, 5]) / 510  # exact halves of an 8-bit step
    mask = rng.random((40, 50)) > 0.7
    fov = rng.random((40, 50)) > 0.3 if with_fov else None
    ref = np.round(np.clip(img, 0, 1) * 255).astype(np.uint8)
    if fov is not None:
        ref[~fov] //= 2
    tinted = np.round(0.3 * ref[mask].astype(np.float32) + 0.7 * np.float32([40, 255, 80]))
    ref[mask] = tinted.astype(np.uint8)
    np.testing.assert_array_equal(overlay(img, mask, fov=fov), ref)
    np.testing.assert_array_equal(overlay(ref, np.zeros_like(mask)), ref)  # uint8 as is
