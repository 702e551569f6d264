"""Contact sheets of optic-disc localisation on every DRIVE and CHASE_DB1 photograph.

For each photograph of a dataset (DRIVE: 40, training + test; CHASE_DB1: 28) it runs
:func:`saunet.measure.disc.locate_disc` twice on a vessel mask and the shipped FOV mask: with
the photograph (green circle) and from the mask alone (blue circle). The vessel mask is the
first observer's, or with ``--vessels predicted`` the one ``saunet segment`` predicts with
the shipped weights (``--weights``, by default the dataset's own, which were trained on its
training images).
Each tile shows the whole photograph and, on its right, a zoom on the region around the
green detection, so a reader can judge by eye whether each centre lies inside the visible
disc. A missing circle means the locator returned ``None``. Two lines per image are printed
(with the photograph, from the mask alone): centre and radius in pixels, and the peak and
margin of the score; at the end the counts, the median radius over the FOV diameter and the
time per call (segmentation excluded).

    .venv/bin/python benchmarks/disc_contact_sheet.py --data-root ../shared/data \\
        --dataset drive --out docs/disc-contact-sheet-drive.jpg [--vessels predicted]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from saunet.data.datasets import list_files, read_sample
from saunet.errors import UserError
from saunet.measure.disc import Disc, DiscCandidate, disc_candidate
from saunet.utils.files import atomic_write

GREEN, BLUE = (40, 255, 40), (40, 170, 255)
THUMB_W, ZOOM = 260, 200


def _draw(d: ImageDraw.ImageDraw, disc: Disc, scale: float, dx: float, dy: float, colour):
    x, y, r = (disc.x - dx) * scale, (disc.y - dy) * scale, disc.radius * scale
    d.ellipse([x - r, y - r, x + r, y + r], outline=colour, width=2)
    d.line([x - 5, y, x + 5, y], fill=colour, width=2)
    d.line([x, y - 5, x, y + 5], fill=colour, width=2)


def tile(name: str, image: np.ndarray, found: dict[str, Disc | None]) -> Image.Image:
    """Whole photograph (left) and a zoom around the photograph-based disc (right)."""
    full = Image.fromarray(np.round(image * 255).astype(np.uint8))
    s = THUMB_W / full.width
    thumb = full.resize((THUMB_W, round(full.height * s)), Image.LANCZOS)
    d = ImageDraw.Draw(thumb)
    for key, colour in (("image", GREEN), ("mask", BLUE)):
        if found[key] is not None:
            _draw(d, found[key], s, 0, 0, colour)
    d.text((4, 4), name, fill=(255, 255, 255))
    out = Image.new("RGB", (THUMB_W + ZOOM, max(thumb.height, ZOOM)))
    out.paste(thumb, (0, 0))
    centre = found["image"] or found["mask"]
    if centre is not None:
        half = 2.5 * centre.radius
        box = (centre.x - half, centre.y - half, centre.x + half, centre.y + half)
        zoom = full.crop(tuple(round(v) for v in box)).resize((ZOOM, ZOOM), Image.LANCZOS)
        z = ZOOM / (box[2] - box[0])
        dz = ImageDraw.Draw(zoom)
        for key, colour in (("image", GREEN), ("mask", BLUE)):
            if found[key] is not None:
                _draw(dz, found[key], z, box[0], box[1], colour)
        out.paste(zoom, (THUMB_W, 0))
    return out


def sheet(tiles: list[Image.Image], title: str, cols: int = 4) -> Image.Image:
    """Tiles in a grid under a one-line legend."""
    tw, th = tiles[0].width, max(t.height for t in tiles)
    rows = (len(tiles) + cols - 1) // cols
    head = 22
    out = Image.new("RGB", (cols * tw, head + rows * th), (0, 0, 0))
    ImageDraw.Draw(out).text((6, 5), title, fill=(255, 255, 255))
    for k, t in enumerate(tiles):
        out.paste(t, ((k % cols) * tw, head + (k // cols) * th))
    return out


def _fmt(c: DiscCandidate) -> str:
    if c.disc is None:
        return "none (nothing to score)"
    kept = "" if c.accepted() is not None else "  -> none (weak evidence)"
    d = c.disc
    where = f"x {d.x:6.1f} y {d.y:6.1f} r {d.radius:5.1f}"
    return f"{where} peak {c.peak:4.1f} margin {c.margin:4.1f}{kept}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--data-root", default=None, help="data root (default: $SAUNET_DATA)")
    ap.add_argument("--dataset", choices=("drive", "chase"), required=True)
    ap.add_argument("--out", type=Path, required=True, help="the sheet, .jpg or .png")
    ap.add_argument("--overwrite", action="store_true", help="replace an existing sheet")
    ap.add_argument(
        "--vessels",
        choices=("manual", "predicted"),
        default="manual",
        help="the first observer's vessel mask (default) or saunet's prediction",
    )
    ap.add_argument("--weights", default=None, help="for predicted: drive, chase or a PATH")
    args = ap.parse_args(argv)
    try:
        if args.out.exists() and not args.overwrite:
            raise UserError(f"{args.out}: exists; pass --overwrite to replace it")
        files = list_files(args.dataset, args.data_root, "all")
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    segmenter = None
    if args.vessels == "predicted":
        from saunet.inference.pretrained import load_pretrained

        segmenter = load_pretrained(args.weights or args.dataset)
    tiles, total, radii, counts = [], 0.0, [], {"image": 0, "mask": 0}
    for f in files:
        s = read_sample(f)
        if segmenter is not None:
            s["label"] = segmenter.segment(s["image"], fov=s["fov"]).mask
        found: dict[str, Disc | None] = {}
        t0 = time.perf_counter()
        for key, image in (("image", s["image"]), ("mask", None)):
            c = disc_candidate(s["label"], s["fov"], image)
            found[key] = c.accepted()
            counts[key] += found[key] is not None
            print(f"{s['name']:12s} {key:5s} {_fmt(c)}")
        if found["image"] is not None:
            radii.append(found["image"].radius / (2 * np.sqrt(s["fov"].sum() / np.pi)))
        total += time.perf_counter() - t0
        tiles.append(tile(s["name"], s["image"], found))
    title = (
        f"{args.dataset.upper()}: {len(files)} photographs, "
        + ("first observer's" if segmenter is None else "saunet's predicted")
        + " vessel mask. "
        "Green: photograph + mask. Blue: mask only. Right: zoom on the green disc."
    )
    img = sheet(tiles, title)
    fmt = "JPEG" if args.out.suffix.lower() in (".jpg", ".jpeg") else "PNG"
    atomic_write(args.out, lambda tmp: img.save(tmp, format=fmt, quality=82, optimize=True))
    ratio = f"{np.median(radii):.3f}" if radii else "-"
    print(
        f"disc returned: with the photograph {counts['image']} of {len(files)}, from the mask "
        f"alone {counts['mask']}; median radius / FOV diameter (photograph) {ratio}"
    )
    print(
        f"{args.out}: {len(files)} images; {total:.1f} s in {2 * len(files)} calls, "
        f"{1000 * total / (2 * len(files)):.0f} ms each on {os.cpu_count()} CPUs; "
        f"{args.out.stat().st_size / 1e6:.2f} MB"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
