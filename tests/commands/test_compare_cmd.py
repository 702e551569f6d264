"""``saunet compare`` on two metrics.json files."""

from __future__ import annotations

import json

from saunet.cli import main
from saunet.evaluation import metrics as M


def _doc(extra_tp: int) -> dict:
    per_image = []
    for i in range(6):
        c = M.Counts(tp=500 + 20 * i + extra_tp, fp=100 + 7 * i, fn=150 - extra_tp, tn=5000)
        per_image.append({"name": f"{i:02d}", **M.binary_metrics(c), "auc": 0.9 + extra_tp / 1000 + i / 100,
                          "counts": c.to_dict()})  # fmt: skip
    return {"protocols": {p: {"threshold": 0.5, "per_image": per_image, "pooled": {"auc": 0.95}}
                          for p in ("paper", "fov")}}  # fmt: skip


def test_compare_command(tmp_path, capsys):
    (tmp_path / "a.json").write_text(json.dumps(_doc(0)))
    (tmp_path / "b.json").write_text(json.dumps(_doc(10)))
    rc = main(["compare", str(tmp_path / "a.json"), str(tmp_path / "b.json"), "--protocol", "paper",
               "--n-boot", "500", "--json", str(tmp_path / "cmp.json")])  # fmt: skip
    assert rc == 0
    out = capsys.readouterr().out
    assert "protocol `paper`" in out and "F1 (pooled)" in out and "Wilcoxon" in out
    r = json.loads((tmp_path / "cmp.json").read_text())
    assert r["protocol"] == "paper" and r["f1"]["b_better"] == 6 and r["f1"]["ci"][0] > 0


def test_compare_command_mismatch(tmp_path, capsys):
    b = _doc(0)
    b["protocols"]["fov"]["per_image"] = b["protocols"]["fov"]["per_image"][1:]
    (tmp_path / "a.json").write_text(json.dumps(_doc(0)))
    (tmp_path / "b.json").write_text(json.dumps(b))
    assert main(["compare", str(tmp_path / "a.json"), str(tmp_path / "b.json")]) == 2
    assert "different images" in capsys.readouterr().err
