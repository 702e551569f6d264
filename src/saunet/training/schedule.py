"""Learning-rate schedules as pure functions of training progress."""

from __future__ import annotations

import math

from saunet.config import TrainConfig


def learning_rate(cfg: TrainConfig, epoch: int, fraction: float = 0.0) -> float:
    """Learning rate during ``epoch`` (0-based) at ``fraction`` in [0, 1) of that epoch.

    * ``step`` (paper Sec. III-C): ``lr`` for epochs ``0..99``, then ``lr * lr_gamma`` from
      epoch index 100 on (the 101st epoch), for ``lr_milestones=[100]``. Constant within
      an epoch, like Keras' per-epoch schedules.
    * ``cosine``: linear warm-up over ``warmup_epochs``, then cosine decay to
      ``lr * min_lr_ratio`` at the end of the last epoch, updated every step.
    """
    if cfg.schedule == "step":
        drops = sum(1 for m in cfg.lr_milestones if epoch >= m)
        return cfg.lr * cfg.lr_gamma**drops
    if cfg.schedule == "cosine":
        t = epoch + fraction
        if t < cfg.warmup_epochs:
            return cfg.lr * (t + 1e-3) / cfg.warmup_epochs
        span = max(cfg.epochs - cfg.warmup_epochs, 1e-9)
        progress = min((t - cfg.warmup_epochs) / span, 1.0)
        floor = cfg.lr * cfg.min_lr_ratio
        return floor + 0.5 * (cfg.lr - floor) * (1 + math.cos(math.pi * progress))
    raise ValueError(f"unknown schedule {cfg.schedule!r}; use 'step' or 'cosine'")
