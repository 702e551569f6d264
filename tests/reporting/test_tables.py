"""Report tables built from results/ (saunet.reporting.tables)."""

from __future__ import annotations


def test_robustness_table_one_row_per_condition(tmp_path):
    import json

    from saunet.reporting.tables import robustness_table

    rows = [{"weights": w, "dataset": d, "condition": c, "auc": 0.9 + i / 100, "f1": 0.8, "gain": 1.0}
            for i, (w, d, c) in enumerate([("drive", "chase", "native"), ("drive", "chase", "jpeg 60"),
                                           ("general", "chase", "native")])]  # fmt: skip
    rows.append({**rows[0], "gain": 2.0, "auc": 0.1})  # a policy-choice row: not in the table
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "robustness.json").write_text(
        json.dumps({"command": "python x", "rows": rows})
    )
    lines = robustness_table(tmp_path)
    assert lines[0] == "| condition | drive on chase | general on chase |"
    assert lines[2] == "| native | 0.9000 / 0.8000 | 0.9200 / 0.8000 |"
    assert lines[3] == "| jpeg 60 | 0.9100 / 0.8000 | — |"
    assert "0.1000" not in "\n".join(lines) and "python x" in lines[-2]
    assert robustness_table(tmp_path / "none") == []
