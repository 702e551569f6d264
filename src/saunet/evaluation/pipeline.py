"""Evaluation pipelines: checkpoint or probability-map folder in, metrics and report out.

:func:`evaluate_checkpoint` predicts a split with a checkpoint (padding like the authors),
:func:`evaluate_prob_dir` reads maps written by any other tool; both score them with
:func:`saunet.evaluation.protocols.evaluate_maps` under the same protocols, add the second
observer,
and write the files of :mod:`saunet.evaluation.outputs`.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from saunet.data.datasets import load_dataset, resolve_data_root
from saunet.errors import DataError, UserError
from saunet.evaluation.outputs import write_report
from saunet.evaluation.protocols import (
    THRESHOLD_POLICIES,
    _check_protocols,
    evaluate_maps,
    second_observer_metrics,
    select_threshold,
)
from saunet.inference.predictor import predict_probabilities
from saunet.inference.segmenter import Segmenter
from saunet.models.checkpoint import load_model, resolve_checkpoint
from saunet.paper import PAPER_PAD
from saunet.utils.files import file_sha256
from saunet.version import __version__

__all__ = ["read_prob_map", "data_identity", "evaluate_checkpoint", "evaluate_prob_dir"]

log = logging.getLogger(__name__)

# ---------------------------------------------------------------------- probability maps


PROB_EXTENSIONS = (".png", ".npy", ".tif", ".tiff")
#: How :func:`evaluate_checkpoint` predicts: the authors' whole-image way, or ``segment``'s.
INFERENCE_MODES = ("paper", "segment")


def read_prob_map(path: str | os.PathLike) -> np.ndarray:
    """Read a probability map written by any tool as float32 ``(H, W)`` in [0, 1].

    ``.npy``: float values as stored (must lie in [0, 1]). Images: 8-bit divided by 255,
    16-bit by 65535; colour images through their luminance.
    """
    from PIL import Image

    path = Path(path)
    if path.suffix.lower() == ".npy":
        a = np.load(path, allow_pickle=False).astype(np.float32)
        a = np.squeeze(a)
    else:
        try:
            with Image.open(path) as im:
                if im.mode.startswith("I;16") or im.mode == "I":
                    a = np.asarray(im, dtype=np.float32) / 65535.0
                elif im.mode == "F":
                    a = np.asarray(im, dtype=np.float32)
                else:
                    a = np.asarray(im.convert("L"), dtype=np.float32) / 255.0
        except OSError as exc:
            raise DataError(f"{path}: cannot read probability map ({exc})") from exc
    if a.ndim != 2:
        raise DataError(f"{path}: probability map must be 2-D, got shape {a.shape}")
    if not np.isfinite(a).all() or a.min() < 0 or a.max() > 1:
        raise DataError(f"{path}: probability values must lie in [0, 1]")
    return a


def _match_prob_files(prob_dir: Path, names: Sequence[str]) -> dict[str, Path]:
    """Map sample names to files: exact stem, else the one stem that starts with the name."""
    if not prob_dir.is_dir():
        raise UserError(f"{prob_dir}: probability map directory not found")
    files = [p for p in sorted(prob_dir.iterdir()) if p.suffix.lower() in PROB_EXTENSIONS]
    by_stem = {p.stem: p for p in files}
    out, missing = {}, []
    for name in names:
        if name in by_stem:
            out[name] = by_stem[name]
            continue
        cands = [p for p in files if p.stem.startswith(name)]
        if len(cands) == 1:
            out[name] = cands[0]
        else:
            missing.append(name if not cands else f"{name} (ambiguous: {[c.name for c in cands]})")
    if missing:
        raise UserError(f"{prob_dir}: no unique probability map for {', '.join(missing)}")
    return out


# ---------------------------------------------------------------------- whole pipelines


def _prepare_out_dir(out_dir: str | os.PathLike | None, overwrite: bool) -> Path | None:
    if out_dir is None:
        return None
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise UserError(f"{out}: exists and is not a directory")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise UserError(f"{out}: output directory is not empty; pass --overwrite or choose another")
    return out


def data_identity(
    dataset: str, split: str, root: Path | None, samples: Sequence[dict]
) -> dict[str, Any]:
    """Which data was evaluated: dataset, split, root and a sha256 over names+labels+FOVs."""
    h = hashlib.sha256()
    for s in samples:
        h.update(str(s.get("name")).encode())
        for key in ("label", "fov"):
            if s.get(key) is not None:
                a = np.ascontiguousarray(s[key], dtype=bool)
                h.update(str(a.shape).encode())
                h.update(np.packbits(a).tobytes())
    return {
        "dataset": dataset,
        "split": split,
        "root": None if root is None else str(root),
        "n_images": len(samples),
        "names": [str(s.get("name")) for s in samples],
        "labels_sha256": h.hexdigest(),
    }


def _load(
    dataset: str, data_root: Any, split: str, folder: dict | None = None
) -> tuple[list[dict], Path | None]:

    root = None if dataset == "folder" and data_root is None else Path(resolve_data_root(data_root))
    samples = load_dataset(dataset, root, split, folder=folder)
    if not samples:
        raise DataError(f"{root}: dataset {dataset!r} split {split!r} has no images")
    return samples, root


def _val_samples(
    dataset: str,
    data_root: Any,
    val_split: str,
    test_split: str,
    folder: dict | None,
    val_names: Sequence[str] | None,
) -> list[dict]:
    """Validation samples for ``val-f1``: never the split being reported.

    ``val_split="checkpoint"`` takes the images the checkpoint's training run held out
    (``meta["data"]["val"]`` names found in the ``train`` split); any other value is a
    split name given to ``load_dataset``.
    """
    if val_split == test_split:
        raise UserError(
            f"val-f1 must not choose the threshold on the evaluated split {test_split!r}"
        )
    if val_split == "checkpoint":
        if not val_names:
            raise UserError(
                "checkpoint records no validation images; pass --val-split train (or another "
                "split that is not the test split)"
            )
        train, _ = _load(dataset, data_root, "train", folder)
        wanted = set(map(str, val_names))
        samples = [s for s in train if str(s["name"]) in wanted]
        if not samples:
            raise UserError(
                "none of the checkpoint's validation images is an original image of the train "
                "split (augmented copies?); pass --val-split train"
            )
        return samples
    samples, _ = _load(dataset, data_root, val_split, folder)
    return samples


def _finish(
    doc: dict[str, Any],
    probs: Sequence[np.ndarray],
    samples: Sequence[dict],
    protocols: Sequence[str],
    thresholds: dict[str, float],
    out: Path | None,
    write_probs: bool,
) -> dict[str, Any]:

    doc = {
        "saunet_version": __version__,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        **doc,
        "protocols": evaluate_maps(probs, samples, protocols=protocols, threshold=thresholds),
        "second_observer": second_observer_metrics(samples, protocols),
    }
    if out is not None:
        write_report(doc, out, probs=probs if write_probs else None, samples=samples)
    return doc


def _check_policy(policy: str) -> None:
    if policy not in THRESHOLD_POLICIES:
        raise UserError(
            f"unknown threshold policy {policy!r}; choose {', '.join(THRESHOLD_POLICIES)}"
        )


def _policy_thresholds(
    policy: str,
    threshold: float,
    protocols: Sequence[str],
    val: tuple[Sequence[np.ndarray], Sequence[dict]] | None,
) -> tuple[dict[str, float], dict[str, Any]]:
    _check_policy(policy)
    if policy == "fixed":
        return {p: float(threshold) for p in protocols}, {"policy": "fixed", "value": threshold}
    assert val is not None
    chosen = {p: select_threshold(val[0], val[1], p) for p in protocols}
    info = {
        "policy": "val-f1",
        "validation_images": [str(s.get("name")) for s in val[1]],
        "per_protocol": {p: {"threshold": t, "validation_f1": f} for p, (t, f) in chosen.items()},
    }
    return {p: t for p, (t, _) in chosen.items()}, info


def evaluate_checkpoint(
    checkpoint: str | os.PathLike,
    dataset: str,
    data_root: str | os.PathLike | None = None,
    *,
    protocols: Iterable[str] = ("paper", "fov"),
    threshold: float = 0.5,
    threshold_policy: str = "fixed",
    val_split: str = "checkpoint",
    split: str = "test",
    folder: dict | None = None,
    out_dir: str | os.PathLike | None = None,
    overwrite: bool = False,
    device: str = "cpu",
    amp_dtype: Any = None,
    tta: bool = False,
    pad_to: tuple[int, int] | str | None = "paper",
    inference: str = "paper",
    write_probs: bool = True,
    progress: bool = True,
) -> dict[str, Any]:
    """Predict a dataset split with a checkpoint and evaluate it; optionally write a report.

    ``inference``: ``"paper"`` predicts each image whole at its own resolution, padded as
    ``pad_to`` says (the authors' evaluation); ``"segment"`` runs the path of
    ``saunet segment`` (:class:`saunet.inference.segmenter.Segmenter`: the FOV mask when the
    dataset has one, else estimated; the resolution policy; tiles; fp32), so that the
    numbers are those a user of ``segment`` gets on photographs of another camera.

    ``checkpoint``: a ``.safetensors`` path, a run directory or a shipped name (``drive``).
    ``pad_to="paper"`` pads like the authors (592x592 DRIVE, 1008x1008 CHASE_DB1); a tuple
    pads to that size; None lets the network pad to a multiple of 8 (images larger than the
    pad size are never padded). ``threshold_policy="val-f1"`` predicts the validation
    images too (``val_split``: ``"checkpoint"`` = the run's held-out images, or a split
    name, never ``split``) and picks each protocol's threshold there. ``folder``: see
    ``saunet.data.datasets.load_dataset``.
    Writes ``out_dir`` (see :func:`saunet.evaluation.outputs.write_report`); refuses a
    non-empty one unless ``overwrite``. Returns the ``metrics.json`` document.
    """
    from tqdm import tqdm

    protocols = _check_protocols(protocols)
    _check_policy(threshold_policy)
    out = _prepare_out_dir(out_dir, overwrite)
    try:
        path = resolve_checkpoint(checkpoint)
        model, meta = load_model(path, device)
    except (FileNotFoundError, ValueError) as exc:
        raise UserError(str(exc)) from exc
    if inference not in INFERENCE_MODES:
        raise UserError(f"inference {inference!r}: choose {', '.join(INFERENCE_MODES)}")
    if isinstance(pad_to, str) or inference == "segment":
        pad_to = PAPER_PAD.get(dataset.lower()) if pad_to == "paper" else None
    if inference == "segment":
        pad_to = None
        segmenter = Segmenter.from_weights(str(path), device=device, precision="fp32", tta=tta)
    scales: list[float] = []

    def predict(samples: Sequence[dict], desc: str) -> list[np.ndarray]:
        maps = []
        for s in tqdm(samples, desc=desc, unit="img", disable=not progress):
            if inference == "segment":
                res = segmenter.segment(
                    s["image"], fov=s["fov"] if s.get("fov_source") == "mask" else None
                )
                scales.append(res.scale)
                maps.append(res.prob)
                continue
            size = tuple(np.shape(s["label"]))
            pad = (
                pad_to
                if pad_to and all(p >= q for p, q in zip(pad_to, size, strict=True))
                else None
            )
            maps.append(
                predict_probabilities(
                    model, s["image"], pad_to=pad, device=device, amp_dtype=amp_dtype, tta=tta
                )
            )
        return maps

    samples, root = _load(dataset, data_root, split, folder)
    val = None
    if threshold_policy == "val-f1":
        val_names = (meta.get("data") or {}).get("val")
        val_samples = _val_samples(dataset, data_root, val_split, split, folder, val_names)
        val = (predict(val_samples, f"predict {dataset} validation"), val_samples)
    thresholds, policy_info = _policy_thresholds(threshold_policy, threshold, protocols, val)
    probs = predict(samples, f"predict {dataset} {split}")
    doc = {
        "source": "checkpoint",
        "checkpoint": {"path": str(path), "sha256": file_sha256(path), "meta": meta},
        "data": data_identity(dataset, split, root, samples),
        "inference": {"mode": inference, "pad_to": list(pad_to) if pad_to else None, "tta": tta,
                      "amp_dtype": str(amp_dtype) if amp_dtype else None, "device": str(device),
                      **({"scales": scales[-len(samples):]} if scales else {})},
        "threshold": policy_info,
    }  # fmt: skip
    return _finish(doc, probs, samples, protocols, thresholds, out, write_probs)


def evaluate_prob_dir(
    prob_dir: str | os.PathLike,
    dataset: str,
    data_root: str | os.PathLike | None = None,
    *,
    protocols: Iterable[str] = ("paper", "fov"),
    threshold: float = 0.5,
    threshold_policy: str = "fixed",
    val_prob_dir: str | os.PathLike | None = None,
    val_split: str = "train",
    split: str = "test",
    folder: dict | None = None,
    out_dir: str | os.PathLike | None = None,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Evaluate probability maps made by any tool (files named after the samples).

    ``prob_dir`` holds one map per sample of ``split`` (``01_test.png``, ``.npy`` ...,
    see :func:`read_prob_map`), at the label's size. ``val-f1`` needs ``val_prob_dir``
    with maps of (some of) the images of ``val_split``; those with a map are used. Same
    protocols, outputs and report as :func:`evaluate_checkpoint`.
    """
    protocols = _check_protocols(protocols)
    _check_policy(threshold_policy)
    out = _prepare_out_dir(out_dir, overwrite)

    def read_all(directory: Path, samples: Sequence[dict]) -> list[np.ndarray]:
        files = _match_prob_files(directory, [str(s["name"]) for s in samples])
        return [read_prob_map(files[str(s["name"])]) for s in samples]

    samples, root = _load(dataset, data_root, split, folder)
    val = None
    if threshold_policy == "val-f1":
        if val_prob_dir is None:
            raise UserError(
                "threshold policy val-f1 needs validation probability maps (--val-probs-dir)"
            )
        val_samples = _val_samples(dataset, data_root, val_split, split, folder, None)
        stems = {
            p.stem for p in Path(val_prob_dir).glob("*") if p.suffix.lower() in PROB_EXTENSIONS
        }
        val_samples = [s for s in val_samples if str(s["name"]) in stems]
        if not val_samples:
            raise UserError(f"{val_prob_dir}: no map named after an image of split {val_split!r}")
        val = (read_all(Path(val_prob_dir), val_samples), val_samples)
    thresholds, policy_info = _policy_thresholds(threshold_policy, threshold, protocols, val)
    probs = read_all(Path(prob_dir), samples)
    doc = {
        "source": "prob_dir",
        "prob_dir": str(Path(prob_dir).resolve()),
        "data": data_identity(dataset, split, root, samples),
        "threshold": policy_info,
    }
    return _finish(doc, probs, samples, protocols, thresholds, out, write_probs=False)
