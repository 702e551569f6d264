"""Section 7 of REPORT.md: where our numbers differ from the paper, as plain facts.

Every sentence is generated from the collected results (deltas, epochs, wall time, the
recipe's settings against the paper's Sec. III-C, paired tests); nothing is hand-written,
so the section stays true when the results change.
"""

from __future__ import annotations

import math
from typing import Any

from saunet.errors import UserError
from saunet.evaluation.compare import compare_results
from saunet.paper import DATASET_TITLE, PAPER_RECIPE
from saunet.reporting.results import (
    HEAD,
    Results,
    Run,
    all_runs,
    fmt,
    fmt_p,
    hardware_text,
    paper_values,
    recipe_path,
    row_name,
    seed_stats,
)

#: Ablation steps: (what is added, model with it, model without it).
STEPS = (
    ("spatial attention on U-Net", "unet18-sa", "unet18"),
    ("DropBlock on U-Net", "sd-unet", "unet18"),
    ("BatchNorm on SD-Unet", "backbone", "sd-unet"),
    ("spatial attention on Backbone", "sa-unet", "backbone"),
    ("all of it (SA-UNet vs U-Net)", "sa-unet", "unet18"),
)


def _setting(cfg: dict[str, Any], key: str) -> Any:
    section, name = key.split(".")
    return (cfg.get(section) or {}).get(name)


def _show(v: Any) -> str:
    return "none" if v is None else f"{v:g}" if isinstance(v, float) else str(v)


def recipe_differences(cfg: dict[str, Any], dataset: str) -> list[str]:
    """``key value (paper: value)`` for every setting that differs from the paper's."""
    out = []
    for key, paper in PAPER_RECIPE.items():
        paper = paper.get(dataset) if isinstance(paper, dict) else paper
        section, name = key.split(".")
        if name not in (cfg.get(section) or {}):
            continue  # not recorded: say nothing rather than guess
        ours = _setting(cfg, key)
        if ours == paper:
            continue
        out.append(f"`{key}` = {_show(ours)} (paper's recipe: {_show(paper)})")
    return out


def _means(models: dict[str, dict[int, Run]], protocol: str, metric: str) -> dict[str, float]:
    out = {}
    for m, seeds in models.items():
        mu, _, n = seed_stats(seeds, protocol, metric)
        if n:
            out[m] = mu
    return out


def _ranking(values: dict[str, float]) -> str:
    return " > ".join(
        row_name(m) for m, _ in sorted(values.items(), key=lambda kv: (-kv[1], kv[0]))
    )


def _training_facts(runs: list[Run], dataset: str) -> list[str]:
    epochs = sorted({int(r.info.get("epochs_done") or 0) for r in runs})
    minutes = sorted(float(r.info.get("wall_minutes") or 0.0) for r in runs)
    hw = "; ".join(sorted({hardware_text(r.info.get("hardware")) for r in runs}))
    configs = ", ".join(
        sorted({recipe_path(r.info.get("config") or r.config.get("name")) for r in runs})
    )
    span = f"{epochs[0]}" if len(epochs) == 1 else f"{epochs[0]}–{epochs[-1]}"
    lo, hi = fmt(minutes[0], digits=1), fmt(minutes[-1], digits=1)
    wall = lo if lo == hi else f"{lo}–{hi}"
    facts = [f"Training: {configs}, {span} epochs per run (paper: 150) in {wall} minutes per "
             f"run on {hw}."]  # fmt: skip
    cfg = next((r.config for r in runs if r.config), None)
    if cfg:
        diffs = recipe_differences(cfg, dataset)
        facts.append("Settings that differ from the paper's (Sec. III-C): " + "; ".join(diffs) + "."
                     if diffs else "The recipe's settings equal the paper's (Sec. III-C).")  # fmt: skip
    return facts


def _delta_facts(models: dict[str, dict[int, Run]], dataset: str) -> list[str]:
    facts = []
    for metric in ("f1", "auc", "se", "acc"):
        ours = _means(models, "paper", metric)
        deltas = {m: v - p[metric] for m, v in ours.items() if (p := paper_values(dataset, m))}
        if not deltas:
            continue
        below = sum(d < 0 for d in deltas.values())
        lo = min(deltas.items(), key=lambda kv: (kv[1], kv[0]))
        hi = max(deltas.items(), key=lambda kv: (kv[1], kv[0]))
        facts.append(
            f"{HEAD[metric]} (protocol `paper`): ours is below the paper's for {below} of "
            f"{len(deltas)} models; Δ from {fmt(lo[1], sign=True)} ({row_name(lo[0])}) to "
            f"{fmt(hi[1], sign=True)} ({row_name(hi[0])})."
        )
    f1 = _means(models, "paper", "f1")
    paper_f1 = {m: p["f1"] for m in f1 if (p := paper_values(dataset, m))}
    if len(paper_f1) > 1:
        facts.append(f"Ranking by F1: ours {_ranking({m: f1[m] for m in paper_f1})}; "
                     f"paper {_ranking(paper_f1)}.")  # fmt: skip
    return facts


def _steps_table(models: dict[str, dict[int, Run]], dataset: str) -> list[str]:
    f1, auc = _means(models, "paper", "f1"), _means(models, "paper", "auc")
    rows = []
    for what, with_, without in STEPS:
        pw, pwo = paper_values(dataset, with_), paper_values(dataset, without)
        if with_ not in f1 or without not in f1 or not pw or not pwo:
            continue
        d_f1, p_f1 = f1[with_] - f1[without], pw["f1"] - pwo["f1"]
        d_auc, p_auc = auc[with_] - auc[without], pw["auc"] - pwo["auc"]
        same = "yes" if math.copysign(1, d_f1) == math.copysign(1, p_f1) else "no"
        rows.append(f"| {what} | {fmt(d_f1, sign=True)} | {fmt(p_f1, sign=True)} | {same} | "
                    f"{fmt(d_auc, sign=True)} | {fmt(p_auc, sign=True)} |")  # fmt: skip
    if not rows:
        return []
    return ["", "| Component added (protocol `paper`) | Δ F1 ours | Δ F1 paper | same sign | "
            "Δ AUC ours | Δ AUC paper |", "|---|---:|---:|---|---:|---:|", *rows, ""]  # fmt: skip


def _test_facts(models: dict[str, dict[int, Run]]) -> list[str]:

    sa = models.get("sa-unet") or {}
    facts = []
    for other in models:
        common = sorted(set(models[other]) & set(sa))
        if other == "sa-unet" or not common:
            continue
        a, b = models[other][common[0]].metrics, sa[common[0]].metrics
        if not a or not b:
            continue
        try:
            r = compare_results(a, b, "paper")
        except (UserError, KeyError, TypeError, ValueError):
            continue
        p = r["f1"]["wilcoxon_p"]
        verdict = "significant" if p < 0.05 else "not significant"
        facts.append(f"SA-UNet vs {row_name(other)} (seed {common[0]}, protocol `paper`): Δ F1 "
                     f"{fmt(r['f1']['pooled_difference'], sign=True)}, Wilcoxon p {fmt_p(p)} "
                     f"({verdict} at 0.05 over {r['n_images']} images).")  # fmt: skip
    return facts


def _protocol_facts(models: dict[str, dict[int, Run]]) -> list[str]:
    model = "sa-unet" if "sa-unet" in models else next(iter(models), None)
    if model is None:
        return []
    parts = []
    for metric in ("acc", "sp", "se", "auc", "f1"):
        (whole, _, n1), (fov, _, n2) = (
            seed_stats(models[model], p, metric) for p in ("paper", "fov")
        )
        if n1 and n2:
            parts.append(f"{HEAD[metric]} {fmt(whole)} vs {fmt(fov)}")
    if not parts:
        return []
    return [f"Protocol `paper` (whole image) vs `fov` for our {row_name(model)}: " + ", ".join(parts)
            + "; the whole-image protocol also counts the background outside the FOV."]  # fmt: skip


def _observer_facts(runs: list[Run], models: dict[str, dict[int, Run]]) -> list[str]:
    so = next((p for r in runs if (p := (((r.metrics or {}).get("second_observer") or {})
                                       .get("paper") or {}).get("pooled"))), None)  # fmt: skip
    mu, _, n = seed_stats(models.get("sa-unet") or {}, "paper", "f1")
    if not so or not n or so.get("f1") is None:
        return []
    return [f"The second human observer scores F1 {fmt(so['f1'])} against the first under "
            f"protocol `paper`; our SA-UNet {fmt(mu)} ({fmt(mu - so['f1'], sign=True)})."]  # fmt: skip


def differences_section(results: Results) -> list[str]:
    """Section 7: factual sentences per recipe and dataset."""
    lines = ["## 7. Where our numbers differ from the paper and why", ""]
    if not results:
        return lines + ["No runs have been collected yet.", ""]
    for label, datasets in results.items():
        for ds, models in datasets.items():
            runs = all_runs(results, label, ds)
            evaluated = {m: s for m, s in models.items() if any(r.metrics for r in s.values())}
            lines += [f"**{DATASET_TITLE.get(ds, ds)}, recipe `{label}`.**", ""]
            facts = _training_facts(runs, ds)
            if evaluated:
                facts += _delta_facts(evaluated, ds)
            lines += [f"- {f}" for f in facts]
            if evaluated:
                lines += _steps_table(evaluated, ds)
                lines += [f"- {f}" for f in _test_facts(evaluated) + _protocol_facts(evaluated)
                          + _observer_facts(runs, evaluated)]  # fmt: skip
            lines.append("")
    return lines


__all__ = ["STEPS", "differences_section", "recipe_differences"]
