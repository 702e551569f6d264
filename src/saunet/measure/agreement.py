"""Agreement between two raters of one measure: Bland-Altman limits and ICC(2,1).

Pure functions of paired values ``a`` (the reference, e.g. the first human observer) and
``b`` (the other rater), one pair per image; pairs where either value is undefined (None or
NaN) are left out.

* **Mean difference** ``d = mean(b - a)`` and **95% limits of agreement**
  ``d +- 1.96 s``, with ``s`` the sample standard deviation (``n - 1``) of the differences
  (Bland and Altman, Lancet 1986).
* **RMS difference** ``sqrt(mean((b - a)^2))``: bias and spread in one number, the
  disagreement that docs/measure.md compares between raters.
* **ICC(2,1)**: two-way random effects, absolute agreement, single rater (Shrout and Fleiss,
  Psychol Bull 1979; McGraw and Wong 1996 "ICC(A,1)")::

      ICC = (MSR - MSE) / (MSR + (k - 1) MSE + k (MSC - MSE) / n)

  over ``n`` images (rows) and ``k`` raters (columns); MSR, MSC and MSE are the mean squares
  of rows, columns and error of the two-way ANOVA. Undefined (None) for fewer than 2 images
  or when the denominator is 0 (every value equal).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["Agreement", "paired", "icc_2_1", "agreement"]


@dataclass(frozen=True)
class Agreement:
    """Agreement of ``b`` with ``a`` over ``n`` images (units of the measure)."""

    n: int
    mean_diff: float | None
    loa_low: float | None
    loa_high: float | None
    rms_diff: float | None
    icc: float | None


def paired(a: Sequence[float | None], b: Sequence[float | None]) -> tuple[np.ndarray, np.ndarray]:
    """The pairs where both values are defined, as two float arrays."""
    keep = [
        (float(x), float(y))
        for x, y in zip(a, b, strict=True)
        if x is not None and y is not None and not math.isnan(x) and not math.isnan(y)
    ]
    arr = np.asarray(keep, dtype=float).reshape(-1, 2)
    return arr[:, 0], arr[:, 1]


def icc_2_1(x: np.ndarray) -> float | None:
    """ICC(2,1) of an ``(n images, k raters)`` array (module docstring); None if undefined."""
    x = np.asarray(x, dtype=float)
    n, k = x.shape
    if n < 2 or k < 2:
        return None
    grand = x.mean()
    ss_rows = k * ((x.mean(axis=1) - grand) ** 2).sum()
    ss_cols = n * ((x.mean(axis=0) - grand) ** 2).sum()
    ss_err = ((x - grand) ** 2).sum() - ss_rows - ss_cols
    msr, msc = ss_rows / (n - 1), ss_cols / (k - 1)
    mse = ss_err / ((n - 1) * (k - 1))
    denom = msr + (k - 1) * mse + k * (msc - mse) / n
    return float((msr - mse) / denom) if denom > 0 else None


def agreement(a: Sequence[float | None], b: Sequence[float | None]) -> Agreement:
    """Bland-Altman mean difference and limits, RMS difference and ICC(2,1) of ``b`` vs ``a``."""
    xa, xb = paired(a, b)
    n = len(xa)
    if n == 0:
        return Agreement(0, None, None, None, None, None)
    d = xb - xa
    md = float(d.mean())
    sd = float(d.std(ddof=1)) if n > 1 else None
    lo = None if sd is None else md - 1.96 * sd
    hi = None if sd is None else md + 1.96 * sd
    rms = float(np.sqrt((d**2).mean()))
    return Agreement(n, md, lo, hi, rms, icc_2_1(np.stack([xa, xb], axis=1)))
