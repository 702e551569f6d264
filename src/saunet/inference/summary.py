"""The summary CSV of ``saunet segment``: written after every image, read back by ``--resume``.

One row per input of a rank (:data:`SUMMARY_FIELDS`), in input order. The file is rewritten
atomically (:func:`saunet.utils.files.atomic_write`) each time an image finishes, so a kill
at any moment leaves the rows of the images finished so far and never a torn file. A row
with ``status = "ok"`` is written only after all of that image's files were renamed into
place, which is what lets ``--resume`` skip it (:func:`finished_rows`).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from saunet.errors import UserError
from saunet.inference.encode import OutputSpec
from saunet.utils.files import atomic_write_text

__all__ = ["SUMMARY_FIELDS", "finished_rows", "read_summary", "write_summary"]

SUMMARY_FIELDS = (
    "name", "input", "weights", "width", "height", "scale", "threshold", "fov_source",
    "vessel_fraction", "seconds", "status",
)  # fmt: skip
#: The columns of summaries written before the ``weights`` column (still read by --resume).
_OLDER_FIELDS = tuple(f for f in SUMMARY_FIELDS if f != "weights")


def write_summary(path: Path, rows: Sequence[dict[str, Any]]) -> None:
    """Replace ``path`` with a header and ``rows`` (keys of :data:`SUMMARY_FIELDS`), atomically."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=SUMMARY_FIELDS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(path, buf.getvalue())


def read_summary(path: Path) -> list[dict[str, str]]:
    """The rows of a summary written by :func:`write_summary`; ``[]`` when there is none.

    Raises:
        UserError: the file is not such a summary (other columns, unreadable text).
    """
    if not path.is_file():
        return []
    try:
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            rows = list(reader)
            fields = tuple(reader.fieldnames or ())
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise UserError(
            f"{path}: cannot read this summary ({exc}); remove it to start over"
        ) from None
    if fields == _OLDER_FIELDS:
        rows = [{**r, "weights": ""} for r in rows]
    elif fields != SUMMARY_FIELDS:
        raise UserError(
            f"{path}: not a saunet segment summary (columns {', '.join(fields) or 'none'}); "
            "remove it or choose another --out"
        )
    return rows


def finished_rows(
    rows: Sequence[dict[str, str]], out_dir: Path, spec: OutputSpec
) -> dict[str, dict[str, str]]:
    """The rows, by name, of images recorded ``ok`` whose chosen files all exist.

    Every file is written atomically, so an existing one is complete; an ``ok`` row with a
    file missing (deleted since, or another ``--outputs``) is not finished.
    """
    return {
        r["name"]: r
        for r in rows
        if r.get("status") == "ok"
        and all(p.is_file() for p in spec.paths(out_dir, r["name"]).values())
    }
