"""Agreement statistics against published and independent values."""

from __future__ import annotations

import numpy as np
import pytest

from saunet.measure.agreement import agreement, icc_2_1, paired

# Shrout and Fleiss (1979), Table 2: 6 targets rated by 4 judges; their ICC(2,1) = 0.29.
SHROUT_FLEISS = np.array(
    [[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]],
    dtype=float,
)


def test_icc_matches_shrout_and_fleiss():
    assert icc_2_1(SHROUT_FLEISS) == pytest.approx(0.29, abs=0.005)


def test_icc_of_identical_raters_is_one_and_a_constant_bias_lowers_it():
    x = np.array([1.0, 2.0, 4.0, 7.0, 8.0])
    assert icc_2_1(np.stack([x, x], 1)) == pytest.approx(1.0)
    assert icc_2_1(np.stack([x, x + 2.0], 1)) < 0.9
    assert icc_2_1(np.ones((4, 2))) is None
    assert icc_2_1(np.ones((1, 2))) is None


def test_bland_altman_limits_against_numpy():
    rng = np.random.default_rng(0)
    a = rng.normal(10, 2, 30)
    b = a + rng.normal(0.5, 0.3, 30)
    ag = agreement(list(a), list(b))
    d = b - a
    assert ag.n == 30
    assert ag.mean_diff == pytest.approx(d.mean())
    assert ag.loa_high - ag.loa_low == pytest.approx(2 * 1.96 * d.std(ddof=1))
    assert ag.rms_diff == pytest.approx(np.sqrt(np.mean(d**2)))


def test_undefined_pairs_are_left_out():
    xa, xb = paired([1.0, None, 3.0, float("nan")], [2.0, 5.0, None, 1.0])
    assert xa.tolist() == [1.0] and xb.tolist() == [2.0]
    assert agreement([None], [1.0]).mean_diff is None
