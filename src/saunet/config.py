"""Typed configuration of a training run: model, data and optimisation.

A run is described by one YAML file with three sections mirroring the dataclasses below
(``model``, ``data``, ``train``); see ``configs/``. Command-line overrides use dotted keys,
``train.epochs=5``. The resolved config is written into every run directory and embedded
in every checkpoint.
"""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from saunet.data.online import DEFAULT_ONLINE_OPS, check_online_ops
from saunet.errors import UserError
from saunet.models import ModelConfig, model_config

__all__ = [
    "DataConfig",
    "TrainConfig",
    "RunConfig",
    "RESUME_SAFE_KEYS",
    "load_config",
    "read_config_dict",
    "apply_overrides",
    "apply_resume_overrides",
]

#: Keys a ``--resume`` may change: they decide how long and where the run goes on, not
#: what it computes per epoch (``train.epochs`` must not fall below the epochs done).
RESUME_SAFE_KEYS = (
    "train.epochs",
    "train.max_minutes",
    "train.threads",
    "train.device",
    "train.save_every",
    "data.root",
)


@dataclass
class DataConfig:
    """Which images a run trains on and how they are prepared (paper Sec. III-A, III-C).

    Attributes:
        dataset: ``drive``, ``chase`` or ``folder``; several joined by ``+``
            (``drive+chase``) train on all of them, each holding out its own ``val_count``.
        root: data root; ``None`` means ``--data-root`` or ``$SAUNET_DATA`` at run time.
        folder: for ``dataset: folder``: ``{images: DIR, labels: DIR, masks: DIR|None}``
            (see :func:`saunet.data.folder.folder_files`).
        pad_to: side of the zero-padded square the network sees (592 DRIVE, 1008 CHASE_DB1);
            ``None`` pads only to a multiple of 8.
        augmentation: ``offline`` (the paper: each of 4 methods makes 3 copies, 20 -> 260
            images, fixed for the run), ``online`` (fresh random augmentation of every batch,
            on the training device) or ``none``.
        validation: ``paper`` (a random ``val_count`` images of the *expanded* set, as the
            paper; augmented copies of one original can land on both sides), ``holdout``
            (``val_count`` whole originals held out before augmentation; leak-free) or
            ``none``.
        val_count: 26 (DRIVE) / 13 (CHASE_DB1) for ``paper``; originals for ``holdout``.
        patch_size: train on random square crops of this side instead of whole images.
        patches_per_image: crops drawn per training image per epoch when ``patch_size`` is set.
        patch_fov_fraction: minimum fraction of a crop's pixels inside the FOV.
        online_ops: which transforms ``augmentation: online`` applies (default the paper's
            five, :data:`saunet.data.online.DEFAULT_ONLINE_OPS`; ``camera`` adds white balance
            and gamma); ``[flips, rot90]`` keeps only the lossless ones, so images and labels
            are seen exactly as drawn.
        px_per_degree: bring every training photograph to this vessel calibre, in px per
            degree of retina, before anything else (:mod:`saunet.data.calibre`); the weights
            then record it as their training scale. ``None`` keeps the native size.
        field_angle_deg: the camera's field angle, for ``px_per_degree`` with a ``folder``
            dataset (DRIVE's and CHASE_DB1's are known).
        zoom: ``[lo, hi]``: in patch mode, rescale each crop by a factor drawn log-uniformly
            from this range (a crop of side ``patch_size / z`` resized to ``patch_size``), so
            one network sees vessels at many calibres. ``None``: no zoom.
        split_seed: seed of the validation draw; ``None`` uses ``train.seed``. Fix it to
            hold out the same images in runs with other seeds (weight soups, seed studies
            compare runs on one validation set).
    """

    dataset: str = "drive"
    root: str | None = None
    folder: dict[str, Any] | None = None
    pad_to: int | None = 592
    augmentation: str = "offline"
    validation: str = "paper"
    val_count: int = 26
    patch_size: int | None = None
    patches_per_image: int = 16
    patch_fov_fraction: float = 0.5
    online_ops: list[str] = field(default_factory=lambda: list(DEFAULT_ONLINE_OPS))
    split_seed: int | None = None
    px_per_degree: float | None = None
    field_angle_deg: float | None = None
    zoom: list[float] | None = None

    def __post_init__(self) -> None:
        check_online_ops(self.online_ops)
        self.online_ops = list(self.online_ops)
        if self.zoom is not None:
            z = [float(v) for v in self.zoom]
            if len(z) != 2 or not 0 < z[0] <= z[1]:
                raise ValueError(
                    f"zoom {self.zoom!r}: give [lo, hi] with 0 < lo <= hi, e.g. [0.5, 2]"
                )
            if not self.patch_size:
                raise ValueError("zoom rescales training crops: set patch_size too")
            self.zoom = z
        if self.px_per_degree is not None and not self.px_per_degree > 0:
            raise ValueError(f"px_per_degree {self.px_per_degree!r}: must be > 0 (e.g. 20)")

    @property
    def datasets(self) -> list[str]:
        """The datasets of ``dataset``, split at ``+``."""
        return [n.strip() for n in self.dataset.split("+") if n.strip()]


@dataclass
class TrainConfig:
    """Optimisation (paper Sec. III-C): Adam, BCE, 150 epochs, lr 1e-3 then 1e-4 at 100.

    Attributes:
        epochs: number of epochs.
        batch_size: 8 (DRIVE) / 4 (CHASE_DB1) in the paper.
        lr: initial learning rate.
        schedule: ``step`` (multiply by ``lr_gamma`` at ``lr_milestones``, the paper) or
            ``cosine`` (to ``lr * min_lr_ratio``, with ``warmup_epochs``).
        loss: ``bce`` (paper) or ``bce+dice``.
        max_minutes: stop after this wall time (checked between epochs); ``None`` = no limit.
        device: ``auto`` (CUDA when present), ``cpu`` or ``cuda[:N]``.
        precision: ``auto`` (bf16 autocast where supported), ``bf16`` or ``fp32``.
        channels_last: memory format of activations.
        select: validation metric that picks ``best.safetensors`` (``auc``, ``f1``, ``loss``, ``acc``).
        eval_every: validate every N epochs.
        threads: CPU threads (``None`` = PyTorch default).
        grad_clip: clip the gradient norm to this value (``None`` = off).
        save_every: also keep a model-only checkpoint every N epochs in ``checkpoints/``.
        clock: what the schedule's progress counts: ``epochs`` (exactly reproducible) or
            ``time`` (training wall time against ``max_minutes``, so a time-budgeted CPU
            recipe always finishes its schedule, however busy the machine is; ``epochs``
            is then only an upper bound, and a resumed run is not bit-identical).
        init_weights: start from these weights instead of a random initialisation
            (fine-tuning): shipped name (``drive``, ``chase``), checkpoint file or run
            directory, of a network with the same layers as ``model``. ``None`` = from scratch
            (the paper).
        ema_decay: keep an exponential moving average of the weights with this decay
            (e.g. 0.999) and validate, select and save the average instead of the raw
            weights (:mod:`saunet.training.ema`); ``None`` = off (the paper).
        distill_from: a teacher (shipped name, checkpoint file or run directory, any
            registry model): train on ``(1 - distill_weight) * label + distill_weight *
            teacher``, the teacher's flip-averaged probabilities
            (:mod:`saunet.training.distill`); ``None`` = the labels alone (the paper).
        distill_weight: the teacher's share of the target, in [0, 1].
    """

    epochs: int = 150
    batch_size: int = 8
    lr: float = 1e-3
    schedule: str = "step"
    lr_milestones: list[int] = field(default_factory=lambda: [100])
    lr_gamma: float = 0.1
    warmup_epochs: int = 0
    min_lr_ratio: float = 0.01
    weight_decay: float = 0.0
    loss: str = "bce"
    seed: int = 0
    max_minutes: float | None = None
    device: str = "auto"
    precision: str = "auto"
    channels_last: bool = True
    select: str = "auc"
    eval_every: int = 1
    threads: int | None = None
    grad_clip: float | None = None
    save_every: int | None = None
    clock: str = "epochs"
    init_weights: str | None = None
    ema_decay: float | None = None
    distill_from: str | None = None
    distill_weight: float = 0.5

    def __post_init__(self) -> None:
        if self.ema_decay is not None and not 0.0 <= self.ema_decay < 1.0:
            raise ValueError(f"ema_decay must be in [0, 1) or null, got {self.ema_decay}")
        if not 0.0 <= self.distill_weight <= 1.0:
            raise ValueError(f"distill_weight must be in [0, 1], got {self.distill_weight}")


@dataclass
class RunConfig:
    """The complete, resolved description of a training run."""

    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    name: str = "run"

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "model": self.model.to_dict(),
            "data": dataclasses.asdict(self.data),
            "train": dataclasses.asdict(self.train),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any], source: str = "config") -> RunConfig:
        if not isinstance(d, dict):
            raise UserError(f"{source}: expected a mapping with model/data/train sections")
        for section in ("model", "data", "train"):
            if not isinstance(d.get(section) or {}, dict):
                raise UserError(f"{source}: {section} must be a mapping of key: value")
        unknown = set(d) - {"name", "model", "data", "train"}
        if unknown:
            raise UserError(
                f"{source}: unknown top-level keys {sorted(unknown)}; expected model, data, train"
            )
        model_d = dict(d.get("model") or {})
        try:
            # ``model: {name: sa-unet, drop_prob: 0.13}`` starts from the registry preset.
            name = model_d.pop("name", "sa-unet")
            model = model_config(name, **model_d)
            data = _build(DataConfig, d.get("data") or {}, f"{source}: data")
            train = _build(TrainConfig, d.get("train") or {}, f"{source}: train")
        except (TypeError, ValueError) as exc:
            raise UserError(f"{source}: {exc}") from exc
        return cls(model=model, data=data, train=train, name=str(d.get("name", "run")))


def _fits(value: Any, hint: Any) -> bool:
    """Whether a YAML value fits a field's type hint (an int is a float; a bool is neither)."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_fits(value, h) for h in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if hint is Any:
        return True
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, origin or hint)


def _build(cls: type, values: dict[str, Any], where: str) -> Any:
    fields = {f.name for f in dataclasses.fields(cls)}
    unknown = set(values) - fields
    if unknown:
        raise UserError(f"{where}: unknown keys {sorted(unknown)}; valid keys: {sorted(fields)}")
    hints = typing.get_type_hints(cls)
    for key, value in values.items():
        if not _fits(value, hints[key]):
            raise UserError(f"{where}.{key}: {value!r} is not of type {hints[key]}")
    return cls(**values)


def load_config(path: str | Path, overrides: list[str] | None = None) -> RunConfig:
    """Read a YAML run config and apply ``section.key=value`` overrides."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: config file not found; see configs/ for examples")
    d = apply_overrides(read_config_dict(path, allow_empty=True), overrides or [])
    d.setdefault("name", path.stem)
    return RunConfig.from_dict(d, source=str(path))


def read_config_dict(path: str | os.PathLike, *, allow_empty: bool = False) -> dict[str, Any]:
    """The mapping in YAML file ``path``; one-line :class:`UserError` for anything else.

    Covers unreadable files, bytes that are not UTF-8, YAML syntax errors and documents that
    are not a mapping (an empty file is ``{}`` only with ``allow_empty``).
    """
    path = Path(path)
    try:
        d = yaml.safe_load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise UserError(f"{path}: not a text file (byte {exc.start} is not UTF-8)") from exc
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        line = f" at line {where.line + 1}" if where is not None else ""
        problem = getattr(exc, "problem", None) or type(exc).__name__
        raise UserError(f"{path}: not valid YAML{line} ({problem})") from exc
    except OSError as exc:
        raise UserError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    if d is None and allow_empty:
        return {}
    if not isinstance(d, dict):
        what = "empty" if d is None else f"a {type(d).__name__}"
        raise UserError(f"{path}: is {what}, expected a mapping with model/data/train sections")
    return d


def apply_overrides(d: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``section.key=value`` strings (values parsed as YAML) to a config dict."""
    d = {k: (dict(v) if isinstance(v, dict) else v) for k, v in d.items()}
    for item in overrides:
        if "=" not in item:
            raise UserError(f"override {item!r}: expected section.key=value, e.g. train.epochs=5")
        key, value = item.split("=", 1)
        parts = key.strip().split(".")
        target = d
        for p in parts[:-1]:
            target = target.setdefault(p, {})
            if not isinstance(target, dict):
                raise UserError(f"override {item!r}: {p} is not a section")
        target[parts[-1]] = yaml.safe_load(value)
    return d


def apply_resume_overrides(
    d: dict[str, Any], overrides: list[str], source: str
) -> tuple[dict[str, Any], list[str]]:
    """Apply ``--resume`` overrides to a run's config dict, refusing unsafe keys by name.

    Only :data:`RESUME_SAFE_KEYS` may change; an override that restates the current value
    is accepted whatever its key. Returns the new dict and the keys that changed.
    """
    new = apply_overrides(d, overrides)
    changed = []
    for item in overrides:
        key = item.split("=", 1)[0].strip()
        section, _, name = key.partition(".")
        old_value = (d.get(section) or {}).get(name) if isinstance(d.get(section), dict) else None
        if (new.get(section) or {}).get(name) == old_value:
            continue
        if key not in RESUME_SAFE_KEYS:
            raise UserError(
                f"{source}: {key} cannot change on --resume (the epochs done were trained with "
                f"{old_value!r}); safe to change: {', '.join(RESUME_SAFE_KEYS)}; "
                "start a new run with --config to change it"
            )
        changed.append(key)
    return new, changed
