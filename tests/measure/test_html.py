"""index.html: self-contained, escaped, one histogram per measure with the right counts."""

from __future__ import annotations

import re

from saunet.measure.html import HISTOGRAM_FIELDS, histogram_svg, index_html


def test_histogram_counts_and_undefined():
    svg = histogram_svg("x", [0.0, 0.05, 1.0, None])
    counts = [int(c) for c in re.findall(r"<title>(\d+)</title>", svg)]
    assert counts == [2, 0, 0, 0, 0, 0, 0, 0, 0, 1]
    assert "n=3, 1 undefined" in svg
    assert "<rect" not in histogram_svg("x", [None])


def test_page_has_pictures_table_histograms_and_no_network():
    rows = [
        {"name": "a<b", "vessel_density": 0.1, "status": "ok"},
        {"name": "bad", "status": "failed: unreadable"},
    ]
    page = index_html("t", ["name", "vessel_density", "status"], rows, {"a<b": "a_measure.png"})
    assert "a&lt;b" in page and "a<b" not in page
    assert "src='a_measure.png'" in page and "class='failed'" in page
    assert page.count("<svg") == sum(f == "vessel_density" for f in HISTOGRAM_FIELDS)
    assert not re.search(r"(src|href)=['\"]https?:", page)
    assert "<script" not in page
