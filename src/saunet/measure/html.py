"""``index.html``: one self-contained page of a measured folder.

No network and no scripts: inline CSS, a thumbnail of each ``<stem>_measure.png`` (relative
links to the files beside the page), the ``measurements.csv`` table, and one histogram per
measure as inline SVG (10 equal bins between the folder's minimum and maximum, undefined
values left out and counted).
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

__all__ = ["HISTOGRAM_FIELDS", "histogram_svg", "index_html"]

#: Columns that get a histogram.
HISTOGRAM_FIELDS = (
    "vessel_density", "fractal_dimension", "skeleton_length_px", "skeleton_length_mm",
    "mean_width_px", "mean_width_um", "segments", "branch_points", "end_points",
    "tortuosity_distance", "tortuosity_density", "zone_b_density", "zone_b_mean_width_px",
    "zone_c_density", "zone_c_mean_width_px",
)  # fmt: skip

_CSS = """
body{font-family:sans-serif;margin:16px;color:#222}
h1{font-size:20px}h2{font-size:16px;margin-top:24px}
.thumbs{display:flex;flex-wrap:wrap;gap:8px}
.thumbs figure{margin:0;font-size:12px;text-align:center}
.thumbs img{width:220px;border:1px solid #ccc}
table{border-collapse:collapse;font-size:12px}
td,th{border:1px solid #ccc;padding:2px 6px;text-align:right;white-space:nowrap}
th{background:#eee}td:first-child{text-align:left}
.hists{display:flex;flex-wrap:wrap;gap:12px}
.hists figure{margin:0;font-size:12px}
.failed{color:#a00}.wide{overflow-x:auto}
"""


def _fmt(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def histogram_svg(name: str, values: Sequence[float | None], bins: int = 10) -> str:
    """An inline SVG histogram of the defined ``values`` (module docstring)."""
    vals = [float(v) for v in values if v is not None]
    missing = len(values) - len(vals)
    w, h, pad = 240, 120, 20
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h + 2 * pad}">']
    if vals:
        lo, hi = min(vals), max(vals)
        span = hi - lo
        counts = [0] * bins
        for v in vals:
            i = bins - 1 if span == 0 else min(int((v - lo) / span * bins), bins - 1)
            counts[i] += 1
        top = max(counts)
        bw = (w - 2 * pad) / bins
        for i, c in enumerate(counts):
            bh = (h - pad) * c / top
            parts.append(
                f'<rect x="{pad + i * bw:.1f}" y="{pad + h - pad - bh:.1f}" width="{bw - 1:.1f}" '
                f'height="{bh:.1f}" fill="#3b528b"><title>{c}</title></rect>'
            )
        parts.append(f'<text x="{pad}" y="{h + pad + 12}" font-size="10">{lo:.4g}</text>')
        parts.append(
            f'<text x="{w - pad}" y="{h + pad + 12}" font-size="10" text-anchor="end">'
            f"{hi:.4g}</text>"
        )
    parts.append(
        f'<text x="{pad}" y="12" font-size="11">{html.escape(name)} (n={len(vals)}'
        + (f", {missing} undefined" if missing else "")
        + ")</text></svg>"
    )
    return "".join(parts)


def index_html(
    title: str,
    fields: Sequence[str],
    rows: Sequence[dict[str, Any]],
    pictures: dict[str, str],
    notes: Sequence[str] = (),
) -> str:
    """The page: ``pictures`` maps a row's name to its picture's file name (relative)."""
    esc = html.escape
    out = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'>",
        f"<title>{esc(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{esc(title)}</h1>",
    ]
    out += [f"<p>{esc(n)}</p>" for n in notes]
    out.append("<h2>Pictures</h2><div class='thumbs'>")
    for r in rows:
        pic = pictures.get(r["name"])
        if pic:
            out.append(
                f"<figure><a href='{esc(pic)}'><img src='{esc(pic)}' alt='{esc(r['name'])}'>"
                f"</a><figcaption>{esc(r['name'])}</figcaption></figure>"
            )
    out.append("</div><h2>Measurements</h2><div class='wide'><table><tr>")
    out += [f"<th>{esc(f)}</th>" for f in fields]
    out.append("</tr>")
    for r in rows:
        cls = "" if r.get("status", "ok") == "ok" else " class='failed'"
        out.append(f"<tr{cls}>" + "".join(f"<td>{esc(_fmt(r.get(f)))}</td>" for f in fields))
        out.append("</tr>")
    out.append("</table></div><h2>Histograms over the folder</h2><div class='hists'>")
    ok = [r for r in rows if r.get("status", "ok") == "ok"]
    for f in HISTOGRAM_FIELDS:
        if f in fields:
            out.append(f"<figure>{histogram_svg(f, [r.get(f) for r in ok])}</figure>")
    out.append("</div></body></html>\n")
    return "\n".join(out)
