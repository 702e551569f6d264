"""Training / validation splits (paper Sec. III-C: 26 DRIVE / 13 CHASE_DB1 validation images).

Modes (``DataConfig.validation``):

* ``paper``: a random ``count`` images of the *expanded* (augmented) set, as the paper does.
  Augmented copies of one original can fall on both sides, so validation scores are
  optimistic (leaky).
* ``holdout``: ``count`` whole *originals* held out before augmentation; validation holds
  only those originals (their augmented copies are used nowhere). Leak-free.
* ``none``: no validation set.

Use :func:`make_train_val`, which applies augmentation and splitting in the right order.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from saunet.data.transforms import offline_expand
from saunet.errors import UserError

__all__ = ["VALIDATION_MODES", "AUGMENTATION_MODES", "split_validation", "make_train_val"]

log = logging.getLogger(__name__)

VALIDATION_MODES = ("paper", "holdout", "none")
AUGMENTATION_MODES = ("offline", "online", "none")


def _source(s: dict[str, Any]) -> str:
    return s.get("source", s["name"])


def split_validation(
    samples: list[dict[str, Any]], mode: str, count: int, seed: int
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Split samples into ``(train, val)``, both in input order; deterministic for ``seed``.

    Args:
        samples: expanded or original sample dicts (copies carry ``source``).
        mode: ``paper`` (random ``count`` samples), ``holdout`` (``count`` originals with all
            their copies taken out of training; ``val`` holds the originals only) or ``none``.
        count: validation size (samples for ``paper``, originals for ``holdout``).
        seed: random seed.

    Raises:
        UserError: unknown mode, or ``count`` too large for the data.
    """
    if mode not in VALIDATION_MODES:
        raise UserError(f"validation {mode!r}: choose one of {', '.join(VALIDATION_MODES)}")
    if mode == "none" or count <= 0:
        return list(samples), []
    rng = np.random.default_rng(seed)
    if mode == "paper":
        if count >= len(samples):
            raise UserError(
                f"val_count {count} leaves no training images out of {len(samples)}; lower it"
            )
        chosen = set(rng.permutation(len(samples))[:count].tolist())
        train = [s for i, s in enumerate(samples) if i not in chosen]
        val = [s for i, s in enumerate(samples) if i in chosen]
        return train, val
    sources = list(dict.fromkeys(_source(s) for s in samples))
    if count >= len(sources):
        raise UserError(
            f"validation holdout: val_count {count} must be smaller than the number of "
            f"original images ({len(sources)}); e.g. data.val_count=2"
        )
    held = {sources[i] for i in rng.permutation(len(sources))[:count].tolist()}
    train = [s for s in samples if _source(s) not in held]
    val = [s for s in samples if _source(s) in held and s.get("augment", "none") == "none"]
    return train, val


def make_train_val(
    originals: list[dict[str, Any]],
    *,
    augmentation: str,
    validation: str,
    val_count: int,
    seed: int,
    split_seed: int | None = None,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Training and validation sample lists for a run, augmenting and splitting in order.

    * ``augmentation="offline"``: ``paper`` validation expands all originals (20 -> 260) and
      then draws ``val_count`` of the expanded set; ``holdout`` holds ``val_count`` originals
      out first and expands only the rest (leak-free).
    * ``augmentation="online"`` or ``"none"``: nothing is expanded here (online augmentation
      happens per batch, :class:`saunet.data.online.OnlineAugment`); ``paper`` and
      ``holdout`` both hold out ``val_count`` random originals.
    * ``validation="none"``: everything trains, ``val`` is empty.

    ``seed`` draws the offline copies; ``split_seed`` (default ``seed``) draws the validation
    images, so runs with different seeds can hold out the same images.

    Pass padded samples (:func:`saunet.data.transforms.pad_sample`) to match the authors,
    who augmented the padded images.
    """

    if augmentation not in AUGMENTATION_MODES:
        raise UserError(
            f"augmentation {augmentation!r}: choose one of {', '.join(AUGMENTATION_MODES)}"
        )
    if validation not in VALIDATION_MODES:
        raise UserError(f"validation {validation!r}: choose one of {', '.join(VALIDATION_MODES)}")
    vseed = seed if split_seed is None else split_seed
    if augmentation == "offline":
        if validation == "paper":
            expanded = offline_expand(originals, seed)
            train, val = split_validation(expanded, "paper", val_count, vseed)
        else:
            train, val = split_validation(originals, validation, val_count, vseed)
            train = offline_expand(train, seed)
    else:
        mode = "none" if validation == "none" else "holdout"
        train, val = split_validation(originals, mode, val_count, vseed)
    log.info(
        "train/val: %d / %d samples (augmentation=%s, validation=%s)",
        len(train),
        len(val),
        augmentation,
        validation,
    )
    return train, val
