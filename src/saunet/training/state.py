"""Run-state checkpoints: model weights, optimizer state and progress in one safetensors file.

``best.safetensors`` and ``last.safetensors`` hold the model (keys ``model.*``); the last
one also holds the optimizer (keys ``optim.<param index>.<name>``), with scalar state in
the metadata, and, when the run averages its weights (``train.ema_decay``), the average
(keys ``ema.*``; ``best.safetensors`` then holds the average as ``model.*``). The periodic
``checkpoints/epochNNNN.safetensors`` hold what is evaluated as ``model.*`` (the average,
if any, with the raw weights as ``raw.*``) and the optimizer, so a run whose
``last.safetensors`` is damaged resumes from the newest of them. Per-epoch
seeding (:func:`saunet.training.batches.epoch_generator` and :func:`epoch_seed`) makes the
RNG state a function of ``(seed, epoch)``, so restoring the epoch restores every random
stream. Nothing is ever unpickled.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from saunet.errors import UserError
from saunet.models.checkpoint import fit_state_dict, load_model, read_checkpoint, save_checkpoint
from saunet.utils.files import file_sha256


def epoch_seed(seed: int, epoch: int) -> int:
    """Seed of the global torch RNG (DropBlock masks) at the start of ``epoch``."""
    return (seed * 1_000_003 + epoch) * 7 + 5


def model_state(model: torch.nn.Module, prefix: str = "model") -> dict[str, torch.Tensor]:
    model = getattr(model, "module", model)  # unwrap DistributedDataParallel
    return {f"{prefix}.{k}": v for k, v in model.state_dict().items()}


def optimizer_tensors(opt: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict]:
    """Split an optimizer state dict into tensors and a JSON-able remainder."""
    sd = opt.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for pid, st in sd["state"].items():
        for k, v in st.items():
            if torch.is_tensor(v):
                tensors[f"optim.{pid}.{k}"] = v
            else:
                scalars.setdefault(str(pid), {})[k] = v
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars}


def restore_optimizer(
    opt: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], meta: dict
) -> None:
    state: dict[int, dict[str, Any]] = {}
    for key, v in tensors.items():
        if key.startswith("optim."):
            _, pid, name = key.split(".", 2)
            state.setdefault(int(pid), {})[name] = v
    for pid, scal in meta["scalars"].items():
        state.setdefault(int(pid), {}).update(scal)
    opt.load_state_dict({"state": state, "param_groups": meta["param_groups"]})


def save_run_state(
    path: Path,
    model: torch.nn.Module,
    opt: torch.optim.Optimizer | None,
    meta: dict[str, Any],
    ema: torch.nn.Module | None = None,
    *,
    publish_ema: bool = False,
) -> Path:
    """Save ``model`` (keys ``model.*``), ``opt`` if given and the weight average ``ema``
    if given (keys ``ema.*``, see :mod:`saunet.training.ema`).

    With ``publish_ema`` the average is saved as ``model.*`` (what evaluation loads) and the
    raw weights as ``raw.*``; :func:`load_run_state` reads both layouts.
    """
    if ema is not None and publish_ema:
        tensors = {**model_state(ema), **model_state(model, prefix="raw")}
    else:
        tensors = model_state(model)
        if ema is not None:
            tensors.update(model_state(ema, prefix="ema"))
    if opt is not None:
        opt_t, opt_meta = optimizer_tensors(opt)
        tensors.update(opt_t)
        meta = {**meta, "optimizer": opt_meta}
    return save_checkpoint(path, tensors, meta)


def load_run_state(
    path: Path,
    model: torch.nn.Module,
    opt: torch.optim.Optimizer | None,
    ema: torch.nn.Module | None = None,
) -> dict[str, Any]:
    """Restore ``model``, ``opt`` and ``ema`` from a file of :func:`save_run_state`.

    Raises:
        CheckpointError: (a ``ValueError``) unreadable file, or weights of another network
            than the run's (one line).
        ValueError: the file lacks the optimizer state or the weight average.
    """
    tensors, meta = read_checkpoint(path)

    def part(prefix: str) -> dict[str, torch.Tensor]:
        return {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}

    published = any(k.startswith("raw.") for k in tensors)
    what = f"{meta.get('model_config', {}).get('name', 'sa-unet')} of this run"
    target = getattr(model, "module", model)
    fit_state_dict(target, part("raw." if published else "model."), path, what)
    if ema is not None:
        average = part("model." if published else "ema.")
        if not average:
            raise ValueError(f"{path}: no weight average (ema.*) to resume from")
        fit_state_dict(ema, average, path, what)
    if opt is not None:
        if "optimizer" not in meta:
            raise ValueError(f"{path}: no optimizer state; cannot resume from it")
        restore_optimizer(opt, tensors, meta["optimizer"])
    return meta


def init_from_weights(model: torch.nn.Module, spec: str) -> dict[str, Any]:
    """Load ``spec``'s weights into ``model`` before training (fine-tuning).

    ``spec`` is anything :func:`saunet.models.checkpoint.resolve_checkpoint` accepts. The source's
    network must have the same layers and shapes as the run's; training settings stored in
    the model config (``drop_prob``, ``bn_momentum``) may differ and are the run's own.
    Returns metadata recording the source (``spec``, file name, sha256).

    Raises:
        UserError: the weights cannot be found or read, or do not fit the network.
    """

    try:
        source, meta = load_model(spec)
        model.load_state_dict(source.state_dict())
    except (FileNotFoundError, ValueError, RuntimeError) as exc:
        first = str(exc).strip().splitlines()[0]
        raise UserError(
            f"train.init_weights {spec}: {first}; fine-tune weights of the same model"
        ) from exc
    path = Path(meta["path"])
    return {"init_weights": {"spec": str(spec), "file": path.name, "sha256": file_sha256(path)}}
