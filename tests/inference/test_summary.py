"""The segment summary: written whole, read back, and which rows count as finished."""

from __future__ import annotations

from pathlib import Path

import pytest

from saunet.errors import UserError
from saunet.inference.encode import OutputSpec
from saunet.inference.summary import SUMMARY_FIELDS, finished_rows, read_summary, write_summary


def row(name: str, status: str = "ok") -> dict[str, str]:
    r = {k: "" for k in SUMMARY_FIELDS}
    return r | {"name": name, "input": f"in/{name}.png", "status": status}


def test_rows_round_trip_and_a_missing_summary_is_empty(tmp_path):
    path = tmp_path / "summary.csv"
    assert read_summary(path) == []
    rows = [row("a"), row("b, with a comma"), row("c", "failed: bad, broken")]
    write_summary(path, rows)
    assert read_summary(path) == rows
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left


@pytest.mark.parametrize(
    ("content", "match"),
    [("name,score\na,1\n", "not a saunet segment summary"), (b"\xff\xfe\x00", "cannot read")],
)
def test_a_foreign_summary_is_one_line(tmp_path, content, match):
    path = tmp_path / "summary.csv"
    (path.write_bytes if isinstance(content, bytes) else path.write_text)(content)
    with pytest.raises(UserError, match=match):
        read_summary(path)


def _touch(folder: Path, *names: str) -> None:
    for n in names:
        (folder / n).write_bytes(b"x")


def test_finished_means_ok_with_every_chosen_file(tmp_path):
    spec = OutputSpec(("prob", "mask"))
    _touch(tmp_path, "a_prob.png", "a_mask.png", "b_prob.png", "c_prob.png", "c_mask.png")
    rows = [row("a"), row("b"), row("c", "failed: unreadable"), row("d")]
    assert list(finished_rows(rows, tmp_path, spec)) == ["a"]
    # Asked for the overlay too: a is no longer finished.
    assert finished_rows(rows, tmp_path, OutputSpec()) == {}


def test_a_summary_from_before_the_weights_column_still_resumes(tmp_path):
    older = [f for f in SUMMARY_FIELDS if f != "weights"]
    path = tmp_path / "summary.csv"
    path.write_text(
        ",".join(older) + "\n" + ",".join("ok" if f == "status" else "1" for f in older) + "\n"
    )
    (row,) = read_summary(path)
    assert row["weights"] == "" and row["status"] == "ok"
