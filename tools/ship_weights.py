"""Turn a finished training run into shipped weights and a model card.

Writes ``src/saunet/weights/sa-unet-<name>.safetensors`` (model weights; the metadata
carries the model config, segmentation threshold, training scale and test metrics), its
card ``sa-unet-<name>.md`` and the run's summaries in ``results/<run name>/``. The card is
``tools/model_card.md.tmpl`` filled in with the run's facts (:func:`fill`); a run started
from the shipped weights inherits their card's lineage, newest stage first. The threshold is
the one chosen on held-out validation images (``eval-val-f1/``), or for a run that held out
none its start's. Test metrics come from ``eval/``, ``eval-val-f1/`` and, if present,
``eval-tta/`` (``saunet evaluate ... --tta --out RUN/eval-tta``); the shipping bar is judged
on one forward pass.

Usage:
    python tools/ship_weights.py runs/drive-cpu --name drive \
        --command "saunet train --config configs/drive-cpu.yaml --out runs/drive-cpu"
    python tools/ship_weights.py runs/drive-cpu --name drive --metrics-only \
        --results-name drive-cpu    # only the card's test metrics, e.g. after eval-tta/
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from string import Template

import torch

from saunet.data.datasets import load_dataset
from saunet.evaluation.outputs import TABLE_METRICS
from saunet.inference.scale import training_scale_meta
from saunet.models.checkpoint import read_checkpoint, save_checkpoint
from saunet.paper import PAPER_RESULTS
from saunet.reporting.collect import collect_run
from saunet.utils.files import atomic_write_text, file_sha256

REPO = Path(__file__).resolve().parents[1]
WEIGHTS = REPO / "src" / "saunet" / "weights"
TEMPLATE = Path(__file__).with_name("model_card.md.tmpl")
FIELD_ANGLE = {"drive": 45.0, "chase": 30.0}
BAR = {"drive": 0.982, "chase": 0.987}
KEYS = ("se", "sp", "acc", "auc", "f1", "mcc")
PROTOCOLS = ("paper", "fov")
#: The run's evaluation folders, and their key in the shipped metadata's ``test_metrics``.
EVALS = {
    "eval": "threshold_0.5",
    "eval-val-f1": "threshold_val_f1",
    "eval-tta": "threshold_0.5_tta",
}
#: Metadata records whose fields the template names as ``$<prefix>_<field>``.
RECORDS = {"init": "init_weights", "distill": "distill", "interp": "interpolation"}
BOOKKEEPING = ("format_version", "created", "code_version", "path")  # not carried over


def _threads(n: int | None) -> str:
    return "? threads" if n is None else f"{n} thread{'' if n == 1 else 's'}"


def _row(pooled: dict) -> str:
    return " | ".join(f"{pooled[k]:.4f}" for k in KEYS)


def _sha(record: dict) -> str | None:
    return record["sha256"][:16] if record else None


def fill(template: str, facts: dict) -> str:
    """``template`` with every ``$fact`` filled in. A line naming a fact that is absent or
    None (this run did not record it) is left out: optional lines need no code."""
    kept = []
    for line in template.splitlines():
        names = [m["named"] or m["braced"] for m in Template.pattern.finditer(line)]
        if all(facts.get(n) is not None for n in names if n):
            kept.append(Template(line).substitute(facts))
    return "\n".join(kept)


def recipe_path(config: str, repo: Path = REPO) -> str:
    """Where recipe ``config`` lives: ``configs/`` (user recipes), else ``research/configs/``."""
    user = f"configs/{config}.yaml"
    return user if (repo / user).is_file() else f"research/configs/{config}.yaml"


def shipped_start(weights_dir: Path, init: dict | None) -> Path | None:
    """The shipped ``sa-unet-<spec>.safetensors`` a run started from (``init``, its
    ``init_weights`` record), or None when it started elsewhere or the file has been
    replaced since (its sha256 no longer matches). Read before anything is shipped."""
    if not init or init["spec"] not in BAR:
        return None
    source = weights_dir / f"sa-unet-{init['spec']}.safetensors"
    return source if source.is_file() and file_sha256(source) == init["sha256"] else None


def _start_sections(weights_dir: Path, init: dict | None) -> list[str]:
    """The ``## `` sections of the card of the shipped weights a run started from."""
    source = shipped_start(weights_dir, init)
    md = source.with_suffix(".md") if source else None
    return md.read_text().split("\n## ") if md is not None and md.is_file() else []


def earlier_stage(weights_dir: Path, init: dict | None) -> list[str]:
    """The starting card's training section, then its own earlier stages (newest first)."""
    sections = _start_sections(weights_dir, init)
    training = [s for s in sections if s.startswith("Training\n")]
    if not training:
        return []
    head = f"## Earlier stage: the weights it started from (sha256 {_sha(init)}...)"
    lines = ["", head, "", *training[0].split("\n", 1)[1].strip().splitlines()]
    for older in (s for s in sections if s.startswith("Earlier stage")):
        lines += ["", f"## {older.strip()}"]
    return lines


def start_threshold(weights_dir: Path, init: dict | None) -> dict | None:
    """The per-protocol threshold of the shipped weights a run started from: a run that
    held out no validation images has none of its own."""
    source = shipped_start(weights_dir, init)
    thr = read_checkpoint(source)[1].get("threshold") if source else None
    return thr if isinstance(thr, dict) else None


def _split_text(meta: dict) -> str:
    n_train, n_val = len(meta["data"]["train"]), len(meta["data"]["val"])
    if n_val == 0:
        return f"all {n_train} training images; none held out for validation"
    return f"{n_train} training / {n_val} held-out validation images"


def _selection_text(meta: dict, run: dict) -> str:
    epochs = meta["epoch"] + 1
    if not meta["data"]["val"]:
        return f"the last of {epochs} epochs (no validation images to select on)"
    select = run["train"]["select"].upper()
    return f"best epoch {meta['best_epoch'] + 1} of {epochs} (selected on validation {select})"


def _soup_lines(soup: dict) -> list[str]:
    """A weight soup (research/soup_weights.py): its recipe, then one line per ingredient."""
    ings, score = soup["ingredients"], soup["validation_fov_auc"]
    how = "fixed in advance (the runs held out no validation images to choose on),"
    if score is not None:
        best = max(i["validation_fov_auc"] for i in ings)
        how = f"chosen on the held-out validation images (FOV AUC {score:.5f}; best single "
        how += f"network {best:.5f})"
    lines = [
        f"- weight soup ({soup['recipe']} recipe, Wortsman et al. 2022): the average of "
        f"{sum(i['chosen'] for i in ings)} of {len(ings)} networks fine-tuned from one "
        f"start, {how} by `{soup['command']}`"
    ]
    for i in ings:
        epochs = f"best epoch {i['best_epoch'] + 1} of {i['epoch'] + 1}"
        if i["validation_fov_auc"] is None:
            epochs = f"the last of {i['epoch'] + 1} epochs"
        distill = f", self-distillation weight {w:g}" if (w := i.get("distill_weight")) else ""
        what = (
            f"`{i['name']}` (config `{i['config']}`, seed {i['seed']}, {epochs}, "
            f"{i['elapsed_seconds'] / 60:.1f} min on {i.get('cpu') or '?'}, "
            f"{_threads(i.get('threads'))}{distill})"
        )
        if i.get("start"):
            what = f"the start ({Path(i['file']).name}, sha256 {_sha(i)}...)"
        verdict = "in the soup" if i["chosen"] else "left out"
        if i["validation_fov_auc"] is not None:
            verdict = f"validation FOV AUC {i['validation_fov_auc']:.5f} alone, {verdict}"
        lines.append(f"  - {what}: {verdict}")
    return lines


def _versus(pooled: dict, ref: dict) -> str:
    """The measures on which ``pooled`` (rounded as printed) is above ``ref``, and below it."""
    diff = {k.upper(): round(pooled[k], 4) - round(ref[k], 4) for k in KEYS}
    up = ", ".join(k for k, d in diff.items() if d > 5e-9)
    down = ", ".join(f"{k} ({d:+.4f})" for k, d in diff.items() if d < -5e-9)
    text = " but ".join(p for p in (up and f"higher {up}", down and f"lower {down}") if p)
    return text or "equal on every measure"


def metrics_facts(
    name: str, dataset: str, fixed: dict, valf1: dict | None, tta: dict | None
) -> dict:
    """The test-metrics section's facts: a table row per protocol for each evaluation
    (``fixed`` at 0.5, ``valf1`` at the validation-F1 threshold, ``tta`` with the four flips
    averaged), the paper's row, the 2nd observer's, and the shipping bar (``fixed`` alone)."""
    published = dict(zip(TABLE_METRICS, PAPER_RESULTS[dataset]["SA-UNet"], strict=True))
    bar, auc = BAR[dataset], fixed["protocols"]["fov"]["pooled"]["auc"]
    mine = fixed["protocols"]["paper"]["pooled"]
    evaluate = f"saunet evaluate --checkpoint {name} --dataset {dataset} --data-root DATA"
    facts = {
        "name": name,
        "dataset": dataset,
        "published": _row(published),
        "bar": bar,
        "auc": f"{auc:.4f}",
        "verdict": "meets it" if auc >= bar else f"**misses it by {bar - auc:.4f}**",
        "tta_auc": tta and f"{tta['protocols']['fov']['pooled']['auc']:.4f}",
        "tta_evaluate": tta and f"{evaluate} --tta",
        "versus_published": _versus(mine, published),
        "versus_observer": _versus(mine, fixed["second_observer"]["paper"]["pooled"]),
    }
    docs = {
        "fixed": fixed["protocols"],
        "valf1": valf1 and valf1["protocols"],
        "tta": tta and tta["protocols"],
        "observer": fixed["second_observer"],
    }
    for key, protocols in docs.items():
        for proto, p in (protocols or {}).items():
            facts[f"{key}_{proto}"] = _row(p["pooled"])
            if "threshold" in p:
                facts[f"{key}_{proto}_threshold"] = f"{p['threshold']:.4f}"
    return facts


def metrics_lines(
    name: str, dataset: str, fixed: dict, valf1: dict | None, tta: dict | None = None
) -> list[str]:
    """The card's test-metrics section (the template's, from its heading up to the
    ``Reproduce:`` line), as :func:`replace_metrics_section` takes it."""
    section = TEMPLATE.read_text().split("## Test metrics")[1].split("\nReproduce: ")[0]
    facts = metrics_facts(name, dataset, fixed, valf1, tta)
    return fill("## Test metrics" + section.rstrip("\n"), facts).splitlines()


def card_facts(meta: dict, evals: dict, results_name: str, note: str = "") -> dict:
    """The run's facts for the template, from the shipped metadata (``meta``) and its
    evaluations (``evals``: each of :data:`EVALS` to its metrics, or None). A fact the run
    did not record is absent, and the template's lines naming it are left out."""
    run, fixed, soup = meta["run_config"], evals["eval"], meta.get("soup")
    hw = meta.get("hardware") or {}
    fov, paper = (fixed["protocols"][p]["pooled"] for p in ("fov", "paper"))
    thr = "threshold" if meta.get("threshold_source") != "start" else "start_threshold"
    facts = {
        "DATASET": run["data"]["dataset"].upper(),
        "split": _split_text(meta),
        "recipe": "**Recipe: the paper's protocol.**",
        "n_test": fixed.get("data", {}).get("n_images", "?"),
        "results_name": results_name,
        "hardware": f"{hw.get('gpu') or hw.get('cpu', '?')} ({_threads(hw.get('threads'))}, "
        f"{hw.get('device', '?')}; torch {hw.get('torch', '?')})",
        "minutes": f"{meta['elapsed_seconds'] / 60:.1f}",
        "test": f"{fov['auc']:.4f} ({paper['auc']:.4f} / {paper['f1']:.4f} / {paper['mcc']:.4f})",
        "command": meta["training_command"],
        "wall_kind": "training",
        "note": f", {note}" if note else "",
        thr: f"{meta['threshold']['fov']:.4f}",
        "fov_px": f"{meta['scale']['fov_diameter_px']:.0f}",
        "field_angle": meta["scale"].get("field_angle_deg", "?"),
    }
    for prefix, key in RECORDS.items():
        if record := meta.get(key):
            facts |= {f"{prefix}_{k}": v for k, v in record.items()}
            facts[f"{prefix}_sha"] = record.get("sha256", "")[:16]
    if scores := facts.get("interp_validation_fov_auc"):
        facts["interp_scores"] = ", ".join(f"{a}: {v:.4f}" for a, v in scores.items())
    val = meta.get("metrics", {}).get("val_auc")
    if soup:
        runs = [i for i in soup["ingredients"] if not i.get("start")]
        configs = ", ".join(sorted({f"`{recipe_path(i['config'])}`" for i in runs}))
        facts |= {
            "soup": "\n".join(_soup_lines(soup)),
            "wall_kind": "fine-tuning, summed over the runs in the soup,",
            "stage_recipe": f"{soup['recipe']} soup of {len(runs)} {configs} runs",
        }
        val = soup["validation_fov_auc"]
    else:
        facts |= {
            "config": recipe_path(run["name"]),
            "seed": meta["seed"],
            "selection": _selection_text(meta, run),
            "ema_decay": run["train"].get("ema_decay") or None,
            "stage_recipe": f"`{recipe_path(run['name'])}`",
        }
    facts["validation"] = "-" if val is None else f"{val:.4f}"
    if not meta["data"]["val"]:
        facts["validation"] = "- (none held out)"
    if run["train"].get("clock") == "time" or run["data"].get("patch_size"):
        what = "a weight soup of the runs below" if soup else f"`{run['name']}`"
        facts["recipe"] = f"**Recipe: CPU recipe** ({what}), not the paper's 150-epoch GPU protocol"
    return facts


def lineage_facts(weights_dir: Path, init: dict | None) -> dict:
    """The starting card's lineage: its table's rows, no longer marked shipped, and its
    stages (:func:`earlier_stage`). Read before the shipped weights are replaced."""
    table = next((s for s in _start_sections(weights_dir, init) if s.startswith("Lineage\n")), "")
    rows = [r for r in table.splitlines() if r.startswith("| ") and not r.startswith("| stage")]
    earlier = "\n".join(earlier_stage(weights_dir, init))
    rows_text = "\n".join(rows).replace(" (shipped)", "")
    return {"lineage_rows": rows_text or None, "stage": len(rows) + 1, "earlier": earlier or None}


def card(
    name: str,
    meta: dict,
    evals: dict,
    results_name: str,
    note: str = "",
    weights_dir: Path = WEIGHTS,
) -> str:
    """The card of ``meta``'s weights shipped as ``name``: the template filled in with
    :func:`metrics_facts`, :func:`card_facts` and the lineage of the card in
    ``weights_dir`` it started from (:func:`lineage_facts`)."""
    facts = metrics_facts(name, meta["run_config"]["data"]["dataset"], *evals.values())
    facts |= card_facts(meta, evals, results_name, note)
    facts |= lineage_facts(weights_dir, meta.get("init_weights"))
    return fill(TEMPLATE.read_text(), facts) + "\n"


def _read_evals(run_dir: Path) -> dict[str, dict | None]:
    """The run's evaluations (:data:`EVALS`), None where missing; ``eval/`` is required."""
    paths = {e: run_dir / e / "metrics.json" for e in EVALS}
    if not paths["eval"].is_file():
        raise SystemExit(f"{paths['eval']}: missing; evaluate the run first")
    return {e: json.loads(p.read_text()) if p.is_file() else None for e, p in paths.items()}


def replace_metrics_section(card_text: str, section: Sequence[str]) -> str:
    """``card_text`` with its ``## Test metrics`` section, up to the ``Reproduce:`` line,
    replaced by ``section`` (:func:`metrics_lines`)."""
    head, found, rest = card_text.partition("## Test metrics")
    _, found_end, tail = rest.partition("\nReproduce: ")
    if not (found and found_end):
        raise ValueError("the card has no test-metrics section followed by a Reproduce line")
    return head + "\n".join(section) + "\n\nReproduce: " + tail


def refresh_card(run_dir: Path, name: str, results_name: str | None = None) -> None:
    """Rewrite the metrics section of the shipped card from ``run_dir``'s evaluations, after
    checking that the run's tensors are the shipped ones; with ``results_name``, also copy
    the flip-TTA evaluation to ``results/<results_name>/``."""
    shipped = WEIGHTS / f"sa-unet-{name}.safetensors"
    run_tensors, meta = read_checkpoint(run_dir / "best.safetensors")
    shipped_tensors = read_checkpoint(shipped)[0]
    if set(run_tensors) != set(shipped_tensors) or any(
        not torch.equal(run_tensors[k], shipped_tensors[k]) for k in run_tensors
    ):
        raise SystemExit(
            f"{run_dir}/best.safetensors: not the tensors of {shipped}; ship it instead"
        )
    evals = _read_evals(run_dir)
    dataset = meta["run_config"]["data"]["dataset"]
    section = metrics_lines(name, dataset, *evals.values())
    md = shipped.with_suffix(".md")
    atomic_write_text(md, replace_metrics_section(md.read_text(), section))
    if results_name and evals["eval-tta"] is not None:
        tta = (run_dir / "eval-tta" / "metrics.json").read_text()
        atomic_write_text(REPO / "results" / results_name / "metrics-tta.json", tta)
    print(f"rewrote the test metrics of {md}")


def main() -> None:
    formatter = argparse.RawDescriptionHelpFormatter
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=formatter)
    ap.add_argument("run_dir", type=Path)
    ap.add_argument("--name", required=True, help="drive or chase")
    ap.add_argument("--command", help="the exact training command (required unless --metrics-only)")
    ap.add_argument(
        "--metrics-only",
        action="store_true",
        help="rewrite only the test-metrics section of the shipped card from the run's "
        "evaluations (e.g. after adding eval-tta/); the run must hold the shipped tensors",
    )
    ap.add_argument("--data-root", default=None)
    ap.add_argument(
        "--machine-note", default="", help="how busy the machine was, for the card's wall time"
    )
    ap.add_argument("--results-name", help="folder under results/ (default: the run's config name)")
    args = ap.parse_args()
    if args.metrics_only:
        refresh_card(args.run_dir, args.name, args.results_name)
        return
    if not args.command:
        ap.error("--command is required (the exact training command)")

    tensors, meta = read_checkpoint(args.run_dir / "best.safetensors")
    # A soup's epochs and wall time are its ingredients' (in its metadata), not one run's.
    last = meta if meta.get("soup") else read_checkpoint(args.run_dir / "last.safetensors")[1]
    evals = _read_evals(args.run_dir)
    valf1, init = evals["eval-val-f1"], meta.get("init_weights")
    if valf1:
        threshold = {p: valf1["protocols"][p]["threshold"] for p in PROTOCOLS}
    elif (threshold := start_threshold(WEIGHTS, init)) is None:
        raise SystemExit(
            f"{args.run_dir}: no eval-val-f1/ and no shipped starting weights to carry a "
            "segmentation threshold from; train with held-out validation images"
        )
    dataset = meta["run_config"]["data"]["dataset"]
    fovs = [s["fov"] for s in load_dataset(dataset, args.data_root, "train")]
    meta = {
        **{k: v for k, v in meta.items() if k not in BOOKKEEPING},
        "epoch": last["epoch"],  # epochs trained; best_epoch is the one shipped
        "elapsed_seconds": last["elapsed_seconds"],
        "threshold": threshold,
        "threshold_source": "val-f1" if valf1 else "start",
        "scale": training_scale_meta(fovs, FIELD_ANGLE.get(dataset)),
        "test_metrics": {
            EVALS[e]: {p: doc["protocols"][p]["pooled"] for p in PROTOCOLS}
            for e, doc in evals.items()
            if doc
        },
        "training_command": args.command,
    }
    results_name = args.results_name or meta["run_config"]["name"]
    text = card(args.name, meta, evals, results_name, args.machine_note)  # before replacing
    target = WEIGHTS / f"sa-unet-{args.name}.safetensors"
    save_checkpoint(target, tensors, meta, sidecar=False)
    atomic_write_text(target.with_suffix(".md"), text)
    dest = REPO / "results" / results_name
    res = collect_run(args.run_dir, REPO / "results", label="cpu", dest=dest)
    print(f"shipped {target} and its card; summaries in {res}")


if __name__ == "__main__":
    main()
