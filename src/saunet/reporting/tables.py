"""Markdown tables of REPORT.md: Tables II/III re-measured, paired tests, Table IV,
cross-dataset generalization and the long CPU runs. Pure functions of their inputs."""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

from saunet.errors import UserError
from saunet.evaluation.compare import compare_results
from saunet.evaluation.outputs import TABLE_METRICS
from saunet.models import MODEL_REGISTRY, build_model, count_parameters
from saunet.models.profile import forward_flops
from saunet.paper import ABLATION_MODELS, DATASET_TITLE, PAPER_RESULTS, PAPER_ROWS, PAPER_TABLE
from saunet.reporting.results import (
    HEAD,
    PROTOCOL_TEXT,
    Results,
    Run,
    all_runs,
    fmt,
    fmt_p,
    hardware_text,
    model_key,
    paper_values,
    read_csv,
    read_json,
    recipe_path,
    recipe_text,
    row_name,
    seed_stats,
)

log = logging.getLogger(__name__)

_METRIC_HEAD = " | ".join(HEAD[m] for m in TABLE_METRICS)
_RULE = "|---|---|" + "---:|" * len(TABLE_METRICS)


def _cells(values: dict[str, Any], sign: bool = False) -> str:
    return " | ".join(fmt(values.get(m), sign=sign) for m in TABLE_METRICS)


def _second_observer(runs: list[Run], protocol: str) -> dict[str, Any] | None:
    for r in runs:
        so = ((r.metrics or {}).get("second_observer") or {}).get(protocol)
        if so and so.get("pooled"):
            return so["pooled"]
    return None


def ablation_table(results: Results, label: str, dataset: str, protocol: str) -> list[str]:
    """Tables II/III re-measured under ``protocol``: ours, the paper's, and the deltas."""
    models = results[label][dataset]
    runs = all_runs(results, label, dataset)
    n_seeds = max((len(s) for s in models.values()), default=0)
    title = DATASET_TITLE.get(dataset, dataset)
    paper_note = "" if protocol == "paper" else ", whole image: the paper reports no FOV numbers"
    lines = [
        f"#### {title} ({PAPER_TABLE.get(dataset, 'no paper table')} re-measured), "
        f"{PROTOCOL_TEXT[protocol]}",
        "",
        f"Trained with: {recipe_text(label, runs)}.",
    ]
    if n_seeds > 1:
        lines.append("Our cells are mean ± sample sd over the seeds that ran (count per row).")
    lines += ["", f"| Method | Source | {_METRIC_HEAD} |", _RULE]
    order = list(ABLATION_MODELS) + sorted(
        (m for m in models if m not in ABLATION_MODELS), key=model_key
    )
    for model in order:
        seeds = models.get(model, {})
        stats = {m: seed_stats(seeds, protocol, m) for m in TABLE_METRICS}
        n = max((s[2] for s in stats.values()), default=0)
        if n == 0:
            what = "not evaluated" if seeds else "not run"
            ours = "| " + " | ".join(what for _ in TABLE_METRICS) + " |"
            lines.append(f"| {row_name(model)} | ours ({label}) {ours}")
        else:
            cells = " | ".join(
                fmt(mu) + (f" ± {fmt(sd)}" if n > 1 and math.isfinite(sd) else "")
                for mu, sd, _ in stats.values()
            )
            seeds_txt = f", {n} seeds" if n > 1 else f", seed {next(iter(seeds))}"
            lines.append(f"| {row_name(model)} | ours ({label}{seeds_txt}) | {cells} |")
        paper = paper_values(dataset, model)
        if paper:
            lines.append(f"| | paper ({PAPER_TABLE[dataset]}{paper_note}) | {_cells(paper)} |")
            if n:
                delta = {m: stats[m][0] - paper[m] for m in TABLE_METRICS}
                what = (
                    "Δ ours − paper" if protocol == "paper" else "Δ ours − paper (protocols differ)"
                )
                lines.append(f"| | {what} | {_cells(delta, sign=True)} |")
    so = _second_observer(runs, protocol)
    if so:
        cells = " | ".join(fmt(so.get(m)) + ("†" if m == "auc" else "") for m in TABLE_METRICS)
        lines.append(f"| 2nd observer | human, same protocol | {cells} |")
        lines += ["", "† The second observer's map is binary: AUC = (SE + SP) / 2."]
    return lines + [""]


def significance_table(results: Results, label: str, dataset: str) -> list[str]:
    """SA-UNet against each other model: Wilcoxon on per-image F1 / AUC, bootstrap CI."""

    models = results[label][dataset]
    title = DATASET_TITLE.get(dataset, dataset)
    head = [f"#### {title}, {label}: SA-UNet against each other model", ""]
    sa = models.get("sa-unet")
    if not sa:
        return head + ["SA-UNet was not run with this recipe; no paired test.", ""]
    lines = head + [
        "Paired over the test images (threshold 0.5). Δ F1 = SA-UNet − other, pooled F1 with "
        "a bootstrap 95% CI (images resampled, 10000 draws, seed 0); Wilcoxon signed-rank "
        "p-values on the per-image F1 and AUC differences (two-sided).",
        "",
        "| SA-UNet vs | Protocol | Seed | F1 other | F1 SA-UNet | Δ F1 | 95% CI | "
        "p (F1) | p (AUC) | images SA-UNet better / worse (F1) |",
        "|---|---|---|---:|---:|---:|---|---:|---:|---|",
    ]
    n_rows = 0
    for other in sorted((m for m in models if m != "sa-unet"), key=model_key):
        for protocol in ("paper", "fov"):
            for seed in sorted(set(models[other]) & set(sa)):
                a, b = models[other][seed].metrics, sa[seed].metrics
                if not a or not b:
                    continue
                try:
                    r = compare_results(a, b, protocol)
                except (UserError, KeyError, TypeError, ValueError) as exc:
                    msg = str(exc).replace("|", "/")
                    lines.append(
                        f"| {row_name(other)} | `{protocol}` | {seed} | not comparable: {msg} ||||||"
                    )
                    continue
                f1 = r["f1"]
                lines.append(
                    f"| {row_name(other)} | `{protocol}` | {seed} | {fmt(f1['pooled_a'])} | "
                    f"{fmt(f1['pooled_b'])} | {fmt(f1['pooled_difference'], sign=True)} | "
                    f"[{fmt(f1['ci'][0], sign=True)}, {fmt(f1['ci'][1], sign=True)}] | "
                    f"{fmt_p(f1['wilcoxon_p'])} | {fmt_p(r['auc']['wilcoxon_p'])} | "
                    f"{f1['b_better']} / {f1['a_better']} |"
                )
                n_rows += 1
    if not n_rows:
        lines = head + ["No other model has a matching evaluated seed; no paired test."]
    return lines + [""]


def _gflops(model: Any, size: int) -> float:
    """Convolution GFLOPs at ``size x size``, counted at 16x16 and scaled: every level's
    pixel count scales exactly by ``(size / 16)^2`` for sizes divisible by 8 (asserted
    against a full-size count in the tests). One thread: tiny convolutions only."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return forward_flops(model, (16, 16)) * size * size // (16 * 16) / 1e9
    finally:
        torch.set_num_threads(threads)


def table_iv(latency: dict[str, Any] | None) -> list[str]:
    """Paper Table IV from the code: parameters, GFLOPs and (optional) CPU latency."""

    lat = (latency or {}).get("models") if isinstance(latency, dict) else None
    lat = lat if isinstance(lat, dict) else {}
    head = ("| Model | Paper row | Trainable | BN running stats | Paper (trainable / "
            "non-trainable) | GFLOPs 592x592 | GFLOPs 1008x1008 |")  # fmt: skip
    rule = "|---|---|---:|---:|---:|---:|---:|"
    if lat:
        head += " CPU fp32 ms | CPU bf16 channels-last ms |"
        rule += "---:|---:|"
    lines = [head, rule]
    for name, (paper_row, _) in MODEL_REGISTRY.items():
        model = build_model(name)
        trainable, running = count_parameters(model)
        pt, pn = PAPER_ROWS.get(name, (None, None))
        paper = f"{pt:,} / {pn:,}" if pt is not None else "—"
        row = (f"| `{name}` | {paper_row} | {trainable:,} | {running:,} | {paper} | "
               f"{_gflops(model, 592):.2f} | {_gflops(model, 1008):.2f} |")  # fmt: skip
        if lat:
            m = lat.get(name) or {}
            row += f" {fmt(m.get('fp32_ms'), digits=1)} | {fmt(m.get('bf16_channels_last_ms'), digits=1)} |"
        lines.append(row)
    lines += ["", "Parameters and GFLOPs are computed from the model code (GFLOPs: 2 per "
              "multiply-add of every convolution, at the zero-padded input size the network "
              "processes: 592x592 DRIVE, 1008x1008 CHASE_DB1). Paper values: Table IV."]  # fmt: skip
    if lat:
        lines.append(
            f"CPU latency per image: batch {latency.get('batch', 1)}, "
            f"{'x'.join(str(v) for v in latency.get('size') or ['?'])}, "
            f"{latency.get('threads', '?')} threads, "
            f"median of {latency.get('repeats', '?')} forward passes; {latency.get('cpu', '?')}, "
            f"torch {latency.get('torch', '?')}, native bf16: {latency.get('native_bf16', '?')}, "
            f"measured {latency.get('date', '?')} by `benchmarks/bench_latency.py`."
        )
    else:
        lines.append("CPU latency: not measured yet (`python benchmarks/bench_latency.py "
                     "--out results/latency.json` adds it).")  # fmt: skip
    return lines + [""]


_CROSS_METRICS = ("fov_auc", "fov_f1", "fov_se", "fov_sp", "fov_acc", "fov_mcc",
                  "paper_auc", "paper_f1", "paper_acc")  # fmt: skip


def _cell(v: Any) -> str:
    if v is None:
        return "—"
    if isinstance(v, float):
        return f"{v:g}"
    return str(v).replace("|", "/")


def cross_table(cross_dir: Path) -> list[str]:
    """Rows of ``cross/*.json`` (lists of ``{weights, dataset, split, scale, fov_auc, ...}``)."""
    rows: list[tuple[str, dict[str, Any]]] = []
    for path in sorted(cross_dir.glob("*.json")):
        doc = read_json(path)
        if isinstance(doc, dict):
            doc = doc.get("rows")
        if not isinstance(doc, list):
            log.warning("%s: expected a list of rows, ignored", path)
            continue
        rows += [(path.name, r) for r in doc if isinstance(r, dict)]
    if not rows:
        return []
    metrics = [m for m in _CROSS_METRICS if any(m in r for _, r in rows)]
    lines = ["| File | Weights | Dataset | Split | Scale | " + " | ".join(metrics) + " |",
             "|---|---|---|---|---:|" + "---:|" * len(metrics)]  # fmt: skip
    for name, r in rows:
        nums = " | ".join(
            fmt(r.get(m)) if isinstance(r.get(m), int | float) else "—" for m in metrics
        )
        lines.append(f"| {name} | {_cell(Path(str(r.get('weights', '—'))).name)} | {_cell(r.get('dataset'))} | "
                     f"{_cell(r.get('split'))} | {_cell(r.get('scale'))} | {nums} |")  # fmt: skip
    return lines + [""]


def robustness_table(robustness_dir: Path) -> list[str]:
    """One table of every ``*/robustness.json`` (``benchmarks/robustness.py``): a row per
    condition, a column per weights and dataset, cells FOV AUC / F1."""
    rows: list[dict[str, Any]] = []
    commands = []
    for path in sorted(robustness_dir.glob("*/robustness.json")):
        doc = read_json(path)
        if isinstance(doc, dict) and isinstance(doc.get("rows"), list):
            rows += [r for r in doc["rows"] if isinstance(r, dict) and r.get("gain", 1.0) == 1.0]
            commands.append(f"`{doc.get('command', '?')}` ({doc.get('cpu', '?')}, {doc.get('threads', '?')} thread(s), {doc.get('minutes', '?')} min)")  # fmt: skip
    if not rows:
        return []
    columns = list(dict.fromkeys((r["weights"], r["dataset"]) for r in rows))
    conditions = list(dict.fromkeys(r["condition"] for r in rows))
    cell = {(r["weights"], r["dataset"], r["condition"]): r for r in rows}
    lines = ["| condition | " + " | ".join(f"{w} on {d}" for w, d in columns) + " |",
             "|---|" + "---:|" * len(columns)]  # fmt: skip
    for c in conditions:
        cells = [cell.get((w, d, c)) for w, d in columns]
        lines.append(f"| {c} | " + " | ".join(
            f"{fmt(r['auc'])} / {fmt(r['f1'])}" if r else "—" for r in cells) + " |")  # fmt: skip
    return lines + ["", "Commands: " + "; ".join(commands), ""]


def _protocol_rows(doc: dict[str, Any] | None, policy: str) -> list[str]:
    out = []
    for protocol in ("paper", "fov"):
        res = ((doc or {}).get("protocols") or {}).get(protocol)
        if not res:
            continue
        out.append(f"| ours, `{protocol}` | {policy} {fmt(res.get('threshold'), digits=3)} | "
                   f"{_cells(res.get('pooled') or {})} |")  # fmt: skip
    return out


def _init_weights(config_path: Path) -> str | None:
    """``train.init_weights`` of a collected run's config, if it was fine-tuned."""
    if not config_path.is_file():
        return None
    import yaml

    cfg = yaml.safe_load(config_path.read_text()) or {}
    return (cfg.get("train") or {}).get("init_weights")


def long_run_dirs(results_dir: Path) -> list[Path]:
    """Single long runs collected directly under ``results_dir`` (``<name>/run.json``)."""
    if not results_dir.is_dir():
        return []
    return sorted(
        p
        for p in results_dir.iterdir()
        if (p / "run.json").is_file() and (p / "metrics.json").is_file()
    )


def _soup_heading(title: str, name: str, rows: list[dict], note: str | None) -> list[str]:
    """Heading and ingredient table of a weight soup (``soup.csv`` of research/soup_weights.py)."""
    ings = [r for r in rows if r["ingredient"] != "soup"]
    kept = sum(r["chosen"] == "1" for r in ings)
    # Runs that held out no validation images make a uniform soup with empty scores.
    scored = any(r["validation_fov_auc"] for r in ings)
    how = (
        "chosen on the held-out validation images"
        if scored
        else "fixed in advance (the runs held out no validation images)"
    )
    lines = [
        f"#### {title}: `{name}/` (a weight soup, `research/soup_weights.py`: the average of "
        f"{kept} of {len(ings)} networks fine-tuned from one start, {how}"
        + (f", {note}" if note else "")
        + "; not the paper's training protocol)",
        "",
        "| ingredient | validation FOV AUC alone | soup with it | in the soup |",
        "|---|---:|---:|---|",
    ]
    lines += [
        f"| {r['ingredient']} | {r['validation_fov_auc'] or '-'} "
        f"| {r['soup_fov_auc_with_it'] or '-'} | {'yes' if r['chosen'] == '1' else 'no'} |"
        for r in ings
    ]
    return lines


VAL_F1_NOTE = (
    "val-F1: the threshold maximising F1 on the run's held-out validation images "
    "(never the test images)."
)
TTA_NOTE = "Flip TTA: `saunet evaluate --tta`, the four flips averaged."


def long_runs_table(results_dir: Path) -> list[str]:
    """The long single runs (e.g. ``drive-cpu-55min/``): the shipped weights' and others."""
    lines: list[str] = []
    for d in long_run_dirs(results_dir):
        metrics = read_json(d / "metrics.json")
        info = read_json(d / "run.json") or {}
        ds = str(info.get("dataset", "drive"))
        title = DATASET_TITLE.get(ds, ds)
        budget = info.get("max_minutes")
        init = _init_weights(d / "config.yaml")
        soup = read_csv(d / "soup.csv")
        if soup:
            lines += _soup_heading(title, d.name, soup, info.get("note"))
        else:
            lines.append(
                f"#### {title}: `{d.name}/` (recipe {recipe_path(info.get('config', '?'))}"
                + (f" with a {budget}-minute budget" if budget else "")
                + (f", fine-tuned from `{init}` weights" if init else "")
                + f", {info.get('epochs_done', '?')} epochs, "
                f"{fmt(info.get('wall_minutes'), digits=1)} minutes, "
                f"{hardware_text(info.get('hardware'))}"
                + (f", {info['note']}" if info.get("note") else "")
                + "; not the paper's training protocol)"
            )
        lines += [
            "",
            f"| Method | Threshold | {_METRIC_HEAD} |",
            _RULE,
            *_protocol_rows(metrics, "fixed"),
            *_protocol_rows(read_json(d / "metrics-val-f1.json"), "val-F1"),
            *_protocol_rows(read_json(d / "metrics-tta.json"), "flip TTA, fixed"),
            f"| SA-UNet, paper (Table {'V' if ds == 'drive' else 'VI'}; F1, MCC: "
            f"{PAPER_TABLE[ds]}; whole image) | 0.5 | "
            f"{_cells(dict(zip(TABLE_METRICS, PAPER_RESULTS[ds]['SA-UNet'], strict=True)))} |",
        ]
        notes = [
            text
            for text, file in ((VAL_F1_NOTE, "metrics-val-f1.json"), (TTA_NOTE, "metrics-tta.json"))
            if (d / file).is_file()
        ]
        if notes:
            lines += ["", " ".join(notes)]
        ttq = read_csv(d / "time_to_quality.csv")
        if ttq:
            step = max(1, math.ceil(len(ttq) / 12))
            keep = ttq[::step] + ([ttq[-1]] if (len(ttq) - 1) % step else [])
            cols = [
                c
                for c in ("epoch", "minutes", "fov_auc", "fov_f1", "paper_auc", "paper_f1")
                if c in ttq[0]
            ]
            lines += ["", "Time to quality (test split, threshold 0.5; `time_to_quality.csv`):", "",
                      "| " + " | ".join(cols) + " |", "|" + "---:|" * len(cols)]  # fmt: skip
            lines += ["| " + " | ".join(r.get(c, "") for c in cols) + " |" for r in keep]
        lines.append("")
    return lines
