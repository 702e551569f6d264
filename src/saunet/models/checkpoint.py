"""Checkpoints: safetensors weights with the run's metadata in the same file.

One file per checkpoint keeps writes atomic: the safetensors header carries a JSON
document under the key ``"saunet"`` (model config, epoch, metrics, seed, data identity,
code version), so weights and metadata can never disagree. A human-readable ``.json``
sidecar is written next to it. Loading uses only ``safetensors`` and ``json``, never
pickle, so a checkpoint cannot execute code.
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

from saunet.models.unet import ModelConfig, UNet
from saunet.utils.files import atomic_write, atomic_write_text
from saunet.version import __version__

__all__ = [
    "FORMAT_VERSION",
    "save_checkpoint",
    "read_checkpoint",
    "load_model",
    "resolve_checkpoint",
    "code_version",
]

log = logging.getLogger(__name__)
FORMAT_VERSION = 1
META_KEY = "saunet"
WEIGHTS_DIR = Path(__file__).resolve().parents[1] / "weights"
#: Short names of shipped weights -> file stem in ``saunet/weights``.
SHIPPED = {"drive": "sa-unet-drive", "chase": "sa-unet-chase"}


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
    path = atomic_write(path, lambda tmp: save_file(flat, tmp, metadata={META_KEY: text}))
    if sidecar:
        atomic_write_text(path.with_suffix(".json"), json.dumps(meta, indent=2, sort_keys=True))
    return path


def read_checkpoint(path: str | os.PathLike) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Read tensors and metadata; raises ``ValueError`` naming the file if it is not ours."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: checkpoint not found")
    try:
        with safe_open(str(path), framework="pt") as f:
            header = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118
    except Exception as exc:  # safetensors raises several types for corrupt files
        raise ValueError(f"{path}: not a readable safetensors checkpoint ({exc})") from exc
    if META_KEY not in header:
        raise ValueError(
            f"{path}: safetensors file without saunet metadata; was it made by saunet?"
        )
    return tensors, json.loads(header[META_KEY])


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
    if "model_config" not in meta:
        raise ValueError(f"{path}: checkpoint metadata has no model_config")
    model = UNet(ModelConfig.from_dict(meta["model_config"]))
    prefix = "model."
    state = {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)} or tensors
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise ValueError(
            f"{path}: weights do not match the model config (missing {missing[:3]}, unexpected {unexpected[:3]})"
        )
    meta["path"] = str(path)
    return model.to(device).eval(), meta
