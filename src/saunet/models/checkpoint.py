"""Checkpoints: safetensors weights with the run's metadata in the same file.

One file per checkpoint keeps writes atomic: the safetensors header carries a JSON
document under the key ``"saunet"`` (model config, epoch, metrics, seed, data identity,
code version), so weights and metadata can never disagree. A human-readable ``.json``
sidecar is written next to it, *before* the weights, so that after a crash it never names
an older epoch than the weights file (:func:`write_sidecar` rewrites it from the weights).
Loading uses only ``safetensors`` and ``json``, never pickle, so a checkpoint cannot
execute code; a PyTorch pickle is recognised by its first bytes and refused by name.
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from saunet.errors import UserError
from saunet.models.unet import ModelConfig, UNet
from saunet.utils.files import atomic_write, atomic_write_text
from saunet.version import __version__

__all__ = [
    "CheckpointError",
    "WeightsMismatch",
    "FORMAT_VERSION",
    "save_checkpoint",
    "read_checkpoint",
    "load_model",
    "resolve_checkpoint",
    "code_version",
    "fit_state_dict",
    "write_sidecar",
]

log = logging.getLogger(__name__)
FORMAT_VERSION = 1
META_KEY = "saunet"
WEIGHTS_DIR = Path(__file__).resolve().parents[1] / "weights"
#: Short names of shipped weights -> file stem in ``saunet/weights``.
SHIPPED = {"drive": "sa-unet-drive", "chase": "sa-unet-chase", "general": "sa-unet-general"}


class CheckpointError(UserError, ValueError):
    """A weights file that is not a usable saunet checkpoint (one line: which file, what is
    wrong). A ``ValueError`` too, so callers that catch ``ValueError`` keep working."""


class WeightsMismatch(CheckpointError):
    """A readable checkpoint whose tensors do not fit the network they are loaded into."""


#: First bytes of PyTorch's ``torch.save`` files: a zip archive (since 1.6) or a raw pickle
#: (protocol 2 to 5).
_PICKLE_MAGIC = (b"PK\x03\x04", b"\x80\x02", b"\x80\x03", b"\x80\x04", b"\x80\x05")


def _looks_like_pickle(path: Path) -> bool:
    """Whether ``path`` starts like a ``torch.save`` file and not like a safetensors one.

    A safetensors file starts with its JSON header's length (u64, little endian) and then
    ``{``; that rules out a length whose first byte happens to equal a pickle's.
    """
    with open(path, "rb") as f:
        head = f.read(9)
    size = path.stat().st_size
    safetensors = len(head) == 9 and head[8:9] == b"{"
    safetensors = safetensors and 8 + int.from_bytes(head[:8], "little") <= size
    return not safetensors and head.startswith(_PICKLE_MAGIC)


def code_version() -> str:
    """The package version recorded in every checkpoint's metadata."""
    return __version__


def save_checkpoint(
    path: str | os.PathLike,
    tensors: dict[str, torch.Tensor],
    meta: dict[str, Any],
    *,
    sidecar: bool = True,
) -> Path:
    """Atomically write ``tensors`` (e.g. a state dict) with ``meta`` embedded.

    ``meta`` must be JSON-serialisable; ``format_version``, ``code_version`` and
    ``created`` are added.
    """
    meta = {
        "format_version": FORMAT_VERSION,
        "code_version": code_version(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        **meta,
    }
    text = json.dumps(meta, sort_keys=True)
    flat = {k: v.detach().contiguous().cpu() for k, v in tensors.items()}
    if sidecar:
        write_sidecar(path, meta)
    return atomic_write(path, lambda tmp: save_file(flat, tmp, metadata={META_KEY: text}))


def write_sidecar(path: str | os.PathLike, meta: dict[str, Any]) -> Path:
    """Write ``meta`` as the human-readable ``.json`` next to checkpoint ``path``."""
    return atomic_write_text(
        Path(path).with_suffix(".json"), json.dumps(meta, indent=2, sort_keys=True)
    )


def read_checkpoint(path: str | os.PathLike) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Read tensors and metadata.

    Raises:
        FileNotFoundError: no such file.
        CheckpointError: (a ``ValueError``) a PyTorch pickle, a damaged or truncated file,
            or a safetensors file without saunet metadata; one line naming the file.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: checkpoint not found")
    if _looks_like_pickle(path):
        raise CheckpointError(
            f"{path}: this is a PyTorch pickle; saunet loads safetensors only (pickles can "
            "run code when loaded); convert it with safetensors.torch.save_file"
        )
    try:
        with safe_open(str(path), framework="pt") as f:
            header = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118
    except Exception as exc:  # safetensors raises several types for corrupt files
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(
            f"{path}: not a readable safetensors checkpoint ({first}); it may be damaged or "
            "half-copied: use an intact copy"
        ) from exc
    if META_KEY not in header:
        raise CheckpointError(
            f"{path}: safetensors file without saunet metadata; was it made by saunet?"
        )
    try:
        meta = json.loads(header[META_KEY])
    except ValueError as exc:
        raise CheckpointError(f"{path}: saunet metadata is not valid JSON ({exc})") from exc
    if not isinstance(meta, dict):
        raise CheckpointError(f"{path}: saunet metadata is not a JSON object")
    return tensors, meta


def fit_state_dict(
    model: torch.nn.Module, state: dict[str, torch.Tensor], path: str | os.PathLike, what: str
) -> None:
    """Load ``state`` into ``model`` strictly, or raise one line naming the first misfit.

    ``what`` names the network the file claims to hold (e.g. ``sa-unet``). Raises
    :class:`WeightsMismatch` when keys or shapes differ: the weights belong to another
    network than their metadata (or the run) describes.
    """
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shapes = [k for k in own if k in state and tuple(state[k].shape) != tuple(own[k].shape)]
    if missing or unexpected or shapes:
        if shapes:
            k = shapes[0]
            detail = (
                f"{len(shapes)} tensors have other shapes, e.g. {k}: "
                f"{tuple(state[k].shape)} in the file, {tuple(own[k].shape)} in {what}"
            )
        else:
            detail = f"missing {missing[:3]}, unexpected {unexpected[:3]}"
        raise WeightsMismatch(
            f"{path}: these weights do not fit the network {what} ({detail}); "
            "they were made for another network"
        )
    model.load_state_dict(state)


def resolve_checkpoint(spec: str | os.PathLike) -> Path:
    """Map a user's ``--checkpoint``/``--weights`` value to a file.

    Accepts a shipped name (``drive``, ``chase``, ``sa-unet-drive``), a ``.safetensors``
    file, or a run directory (its ``best.safetensors``).
    """
    s = str(spec)
    stem = SHIPPED.get(s, s)
    shipped = WEIGHTS_DIR / f"{stem}.safetensors"
    if shipped.is_file():
        return shipped
    p = Path(s)
    if p.is_dir():
        for name in ("best.safetensors", "last.safetensors"):
            if (p / name).is_file():
                return p / name
        raise FileNotFoundError(f"{p}: run directory without best.safetensors or last.safetensors")
    if p.is_file():
        return p
    names = ", ".join(SHIPPED)
    raise FileNotFoundError(
        f"{s}: no such checkpoint file, run directory or shipped weights ({names})"
    )


def load_model(
    spec: str | os.PathLike, device: str | torch.device = "cpu"
) -> tuple[UNet, dict[str, Any]]:
    """Rebuild the network a checkpoint describes and load its weights (eval mode)."""
    path = resolve_checkpoint(spec)
    tensors, meta = read_checkpoint(path)
    if not isinstance(meta.get("model_config"), dict):
        raise CheckpointError(f"{path}: checkpoint metadata has no model_config")
    try:
        model = UNet(ModelConfig.from_dict(meta["model_config"]))
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{path}: unusable model_config in its metadata ({exc})") from exc
    prefix = "model."
    state = {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)} or tensors
    name = meta["model_config"].get("name", "sa-unet")
    fit_state_dict(model, state, path, f"{name} (as its metadata says)")
    meta["path"] = str(path)
    return model.to(device).eval(), meta
