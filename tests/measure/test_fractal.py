"""Box-counting dimension: 1 for a line, 2 for a filled square, undefined when empty."""

from __future__ import annotations

import numpy as np
import pytest
from phantoms import draw, line, rotate

from saunet.measure.fractal import box_counts, box_sizes, fractal_dimension


@pytest.mark.parametrize("angle", [0.0, 30.0, 45.0, 60.0, 90.0, 120.0])
def test_straight_line_has_dimension_one(angle):
    # Edge to edge: a line ending inside the image reads low at large boxes (finite size).
    c = rotate(line((256.5, -300), (256.5, 812)), angle, (256, 256))
    m = draw([c], 1.5, (512, 512))
    assert fractal_dimension(m) == pytest.approx(1.0, abs=0.05)


@pytest.mark.parametrize(("top", "side"), [(128, 256), (0, 512)])
def test_filled_square_has_dimension_two(top, side):
    m = np.zeros((512, 512), bool)
    m[top : top + side, top : top + side] = True
    assert fractal_dimension(m) == pytest.approx(2.0, abs=0.05)


def test_finite_size_bias_is_as_documented():
    # A square that does not fill the grid reads low: the largest boxes overhang it.
    m = np.zeros((512, 512), bool)
    m[100:400, 100:400] = True
    assert 1.7 < fractal_dimension(m) < 1.85


def test_box_sizes_and_counts():
    assert box_sizes((584, 565)) == [2, 4, 8, 16, 32, 64, 128]
    assert box_sizes((960, 999)) == [2, 4, 8, 16, 32, 64, 128]
    m = np.zeros((10, 10), bool)
    m[0, 0] = m[9, 9] = True
    assert box_counts(m, [2, 4, 8]) == [2, 2, 2]


def test_empty_mask_is_undefined():
    assert fractal_dimension(np.zeros((64, 64), bool)) is None
