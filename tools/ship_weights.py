"""Turn a finished training run into shipped weights and a model card.

Writes ``src/saunet/weights/sa-unet-<name>.safetensors`` (model weights only; the
metadata carries the model config, the segmentation threshold chosen on validation (or,
for a run that held out none, its starting weights' threshold), the training scale and
the test metrics) and ``sa-unet-<name>.md`` (the model card), and
copies the run's summaries to ``results/<run name>/`` (:func:`saunet.collect.collect_run`).

The card's test metrics come from the run's ``eval/`` and ``eval-val-f1/`` (written by
``saunet train`` or the soup and interpolation tools). For flip test-time augmentation
rows as well, evaluate first with
``saunet evaluate --checkpoint RUN/best.safetensors --dataset D --tta --out RUN/eval-tta``;
the shipping bar is judged on one forward pass either way.

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

import torch

from saunet.checkpoint import atomic_write_text, file_sha256, read_checkpoint, save_checkpoint
from saunet.collect import collect_run
from saunet.data.datasets import load_dataset
from saunet.evaluation_report import PAPER_RESULTS, TABLE_METRICS
from saunet.scale import training_scale_meta

REPO = Path(__file__).resolve().parents[1]
FIELD_ANGLE = {"drive": 45.0, "chase": 30.0}
BAR = {"drive": 0.982, "chase": 0.987}
KEYS = ("se", "sp", "acc", "auc", "f1", "mcc")


def _threads(n: int | None) -> str:
    return "? threads" if n is None else f"{n} thread{'' if n == 1 else 's'}"


def _row(pooled: dict) -> str:
    return " | ".join(f"{pooled[k]:.4f}" for k in KEYS)


def shipped_start(weights_dir: Path, init: dict | None) -> Path | None:
    """The shipped ``sa-unet-<spec>.safetensors`` a run started from (``init``, its
    ``init_weights`` record), or None when it started elsewhere or the file has been
    replaced since (its sha256 no longer matches). Read before anything is shipped."""
    if not init or init["spec"] not in BAR:
        return None
    source = weights_dir / f"sa-unet-{init['spec']}.safetensors"
    if not source.is_file() or file_sha256(source) != init["sha256"]:
        return None
    return source


def earlier_stage(weights_dir: Path, init: dict | None) -> list[str]:
    """The training section of the card of the weights this run started from, when those
    are the shipped weights (:func:`shipped_start`), followed by that card's own earlier
    stages, so a multi-stage recipe keeps its whole lineage, newest stage first, in the new
    card."""
    source = shipped_start(weights_dir, init)
    md = source.with_suffix(".md") if source else None
    if md is None or not md.is_file():
        return []
    sections = md.read_text().split("\n## ")
    training = [s for s in sections if s.startswith("Training\n")]
    if not training:
        return []
    lines = [
        "",
        f"## Earlier stage: the weights it started from (sha256 {init['sha256'][:16]}...)",
        "",
        *training[0].split("\n", 1)[1].strip().splitlines(),
    ]
    for older in (s for s in sections if s.startswith("Earlier stage")):
        lines += ["", f"## {older.strip()}"]
    return lines


def start_threshold(weights_dir: Path, init: dict | None) -> dict | None:
    """The per-protocol segmentation threshold of the shipped weights a run started from
    (:func:`shipped_start`).

    A run that held out no validation images (``data.validation: none``) has nothing to
    choose a threshold on; it carries over its start's instead of falling back to 0.5."""
    source = shipped_start(weights_dir, init)
    if source is None:
        return None
    thr = read_checkpoint(source)[1].get("threshold")
    return thr if isinstance(thr, dict) else None


def _threshold_line(meta: dict) -> str:
    """Card line for the segmentation threshold and where it came from."""
    if meta.get("threshold_source") == "start":
        why = (
            "carried over from the weights it started from: this run held out no "
            "validation images to choose one on"
        )
    else:
        why = "maximises F1 inside the FOV on the held-out validation images"
    return (
        f"- segmentation threshold: {meta['threshold']['fov']:.4f} ({why}; `saunet segment` "
        "uses it unless `--threshold`)"
    )


def _split_text(meta: dict) -> str:
    n_train, n_val = len(meta["data"]["train"]), len(meta["data"]["val"])
    if n_val == 0:
        return f"all {n_train} training images; none held out for validation"
    return f"{n_train} training / {n_val} held-out validation images"


def _selection_text(meta: dict, run: dict) -> str:
    if not meta["data"]["val"]:
        return f"the last of {meta['epoch'] + 1} epochs (no validation images to select on)"
    return (
        f"best epoch {meta['best_epoch'] + 1} of {meta['epoch'] + 1} "
        f"(selected on validation {run['train']['select'].upper()})"
    )


def _interpolation_line(ip: dict) -> str:
    """Card line for weights written by tools/interpolate_weights.py."""
    scores = ", ".join(f"{k}: {v:.4f}" for k, v in ip["validation_fov_auc"].items())
    chosen = (
        "the run's own best checkpoint (a = 1) scored best, so the tensors are that checkpoint's"
        if ip["alpha"] == 1
        else f"shipped tensors: (1 - a) x start + a x end with a = {ip['alpha']:g}"
    )
    return (
        "- weight interpolation between the starting weights (a = 0) and the run's best "
        f"checkpoint (a = 1), scored on the held-out validation images (FOV AUC {scores}) by "
        f"`{ip['command']}`: {chosen}"
    )


def _soup_lines(soup: dict) -> list[str]:
    """Card lines for weights written by tools/soup_weights.py: the recipe, then one line
    per ingredient (its run, config, seed, wall time and validation score)."""
    ings = soup["ingredients"]
    chosen = [i for i in ings if i["chosen"]]
    if soup["validation_fov_auc"] is None:  # runs without validation images: fixed in advance
        how = "fixed in advance (the runs held out no validation images to choose on),"
    else:
        best_alone = max(i["validation_fov_auc"] for i in ings)
        how = (
            f"chosen on the held-out validation images (FOV AUC "
            f"{soup['validation_fov_auc']:.5f}; best single network {best_alone:.5f})"
        )
    lines = [
        f"- weight soup ({soup['recipe']} recipe, Wortsman et al. 2022): the average of "
        f"{len(chosen)} of {len(ings)} networks fine-tuned from one start, {how} by "
        f"`{soup['command']}`",
    ]
    for i in ings:
        if i.get("start"):
            what = f"the start ({Path(i['file']).name}, sha256 {i['sha256'][:16]}...)"
        else:
            epochs = (
                f"the last of {i['epoch'] + 1} epochs"
                if i["validation_fov_auc"] is None
                else f"best epoch {i['best_epoch'] + 1} of {i['epoch'] + 1}"
            )
            what = (
                f"`{i['name']}` (config `{i['config']}`, seed {i['seed']}, {epochs}, "
                f"{i['elapsed_seconds'] / 60:.1f} min on "
                f"{i.get('cpu') or '?'}, {_threads(i.get('threads'))}"
                + (
                    f", self-distillation weight {i['distill_weight']:g}"
                    if i.get("distill_weight")
                    else ""
                )
                + ")"
            )
        verdict = "in the soup" if i["chosen"] else "left out"
        if i["validation_fov_auc"] is not None:
            verdict = f"validation FOV AUC {i['validation_fov_auc']:.5f} alone, {verdict}"
        lines.append(f"  - {what}: {verdict}")
    return lines


def card(
    name: str,
    meta: dict,
    fixed: dict,
    valf1: dict | None,
    command: str,
    machine_note: str,
    results_name: str,
    lineage: Sequence[str] = (),
    tta: dict | None = None,
) -> str:
    run = meta["run_config"]
    hw = meta.get("hardware", {})
    dataset = run["data"]["dataset"]
    soup = meta.get("soup")
    recipe = (
        "CPU recipe"
        if run["train"].get("clock") == "time" or run["data"].get("patch_size")
        else "paper protocol"
    )
    recipe_name = "a weight soup of the runs below" if soup else f"`{run['name']}`"
    lines = [
        f"# sa-unet-{name}",
        "",
        f"SA-UNet trained by `saunet train` on the {dataset.upper()} training split "
        f"({_split_text(meta)}).",
        "",
        f"**Recipe: {recipe}** ({recipe_name}), not the paper's 150-epoch GPU protocol"
        if recipe == "CPU recipe"
        else "**Recipe: the paper's protocol.**",
        "",
        "## Training",
        "",
        f"- command: `{command}`",
        *(
            [
                f"- initialised from `{init['spec']}` ({init['file']}, sha256 "
                f"{init['sha256'][:16]}...): fine-tuned, not trained from scratch as in the paper"
            ]
            if (init := meta.get("init_weights"))
            else []
        ),
        *(
            [f"- shipped tensors: the exponential moving average of the weights (decay {ema})"]
            if (ema := run["train"].get("ema_decay")) and not soup
            else []
        ),
        *(
            [
                f"- target: {1 - dt['weight']:g} x the labels + {dt['weight']:g} x the "
                f"flip-averaged probabilities of the teacher `{dt['spec']}` ({dt['file']}, sha256 "
                f"{dt['sha256'][:16]}...) on the training images: self-distillation, not in the "
                "paper"
            ]
            if (dt := meta.get("distill"))
            else []
        ),
        *([_interpolation_line(ip)] if (ip := meta.get("interpolation")) else []),
        *(
            _soup_lines(soup)
            if soup
            else [
                f"- config: `configs/{run['name']}.yaml` (resolved copy in "
                f"`results/{results_name}/config.yaml`)",
                f"- seed: {meta['seed']}; {_selection_text(meta, run)}",
            ]
        ),
        f"- wall time: {meta['elapsed_seconds'] / 60:.1f} min of "
        + ("fine-tuning, summed over the runs in the soup," if soup else "training")
        + f" on {hw.get('cpu', '?')} "
        f"({_threads(hw.get('threads'))}, {hw.get('device', '?')}; torch {hw.get('torch', '?')})"
        + (f", {machine_note}" if machine_note else ""),
        _threshold_line(meta),
        f"- training scale: FOV diameter {meta['scale']['fov_diameter_px']:.0f} px, "
        f"field angle {meta['scale'].get('field_angle_deg', '?')} deg",
        *lineage,
        "",
        *metrics_lines(name, dataset, fixed, valf1, tta),
        "",
        f"Reproduce: `{command}`, then "
        f"`saunet evaluate --checkpoint {name} --dataset {dataset} --data-root DATA --out eval-{name}`.",
        "",
    ]
    return "\n".join(lines)


def metrics_lines(
    name: str, dataset: str, fixed: dict, valf1: dict | None, tta: dict | None = None
) -> list[str]:
    """The card's test-metrics section: one row per protocol for each evaluation (``fixed``
    at 0.5, ``valf1`` at the validation-F1 threshold, ``tta`` at 0.5 with the four flips
    averaged), the paper's row, the 2nd observer and the shipping-bar verdict. The bar is
    judged on one forward pass (``fixed``); the flip-averaged figure is stated beside it."""
    paper = dict(zip(TABLE_METRICS, PAPER_RESULTS[dataset]["SA-UNet"], strict=True))
    lines = [
        "## Test metrics (printed by `saunet evaluate`, pooled over all test pixels)",
        "",
        "| protocol | threshold | SE | SP | ACC | AUC | F1 | MCC |",
        "|---|---|---|---|---|---|---|---|",
    ]
    labelled = [(fixed, "0.5 (fixed, paper)"), (valf1, None), (tta, "0.5, `--tta` (4 flips)")]
    for doc, label in labelled:
        if doc is None:
            continue
        for proto in ("paper", "fov"):
            p = doc["protocols"][proto]
            thr = label or f"{p['threshold']:.4f} (val-F1)"
            lines.append(f"| {proto} | {thr} | {_row(p['pooled'])} |")
    lines.append("| paper | 0.5, **SA-UNet as published** (Table V/VI) | "
                 + " | ".join(f"{paper[k]:.4f}" for k in KEYS) + " |")  # fmt: skip
    for proto in ("paper", "fov"):
        so = fixed["second_observer"][proto]["pooled"]
        lines.append(f"| {proto} | - (2nd observer) | {_row(so)} |")
    bar = BAR[dataset]
    auc = fixed["protocols"]["fov"]["pooled"]["auc"]
    verdict = "meets it" if auc >= bar else f"**misses it by {bar - auc:.4f}**"
    lines += ["", f"Shipping bar: test FOV AUC >= {bar} in one forward pass; these weights "
              f"reach {auc:.4f} ({verdict})."]  # fmt: skip
    if tta is not None:
        t = tta["protocols"]["fov"]["pooled"]["auc"]
        lines[-1] += (
            f" With `--tta` (the four flips averaged, four times the compute) they reach "
            f"{t:.4f}; the bar is not judged on that figure."
        )
    lines += [
        "",
        "`paper` = whole image after cropping the padding, `fov` = inside the FOV mask. The 2nd "
        "observer's AUC is (SE+SP)/2 of a binary map.",
    ]
    if tta is not None:
        lines[-1] += (
            " `--tta` rows: `saunet evaluate --checkpoint "
            f"{name} --dataset {dataset} --data-root DATA --tta`."
        )
    return lines


def _read_eval(run_dir: Path, name: str) -> dict | None:
    path = run_dir / name / "metrics.json"
    return json.loads(path.read_text()) if path.is_file() else None


def replace_metrics_section(card_text: str, section: Sequence[str]) -> str:
    """``card_text`` with its test-metrics section (from the ``## Test metrics`` heading up
    to the ``Reproduce:`` line) replaced by ``section`` (:func:`metrics_lines`)."""
    head, found, rest = card_text.partition("## Test metrics")
    _, found_end, tail = rest.partition("\nReproduce: ")
    if not (found and found_end):
        raise ValueError("the card has no test-metrics section followed by a Reproduce line")
    return head + "\n".join(section) + "\n\nReproduce: " + tail


def refresh_card(run_dir: Path, name: str, results_name: str | None = None) -> None:
    """Rewrite the metrics section of the shipped ``sa-unet-<name>.md`` from ``run_dir``'s
    evaluations, after checking that the run's tensors are the shipped ones; with
    ``results_name``, also copy the flip-TTA evaluation to ``results/<results_name>/``."""
    shipped = REPO / "src" / "saunet" / "weights" / f"sa-unet-{name}.safetensors"
    run_tensors, meta = read_checkpoint(run_dir / "best.safetensors")
    shipped_tensors, _ = read_checkpoint(shipped)
    if set(run_tensors) != set(shipped_tensors) or any(
        not torch.equal(run_tensors[k], shipped_tensors[k]) for k in run_tensors
    ):
        raise SystemExit(
            f"{run_dir}/best.safetensors: not the tensors of {shipped}; ship it instead"
        )
    fixed = _read_eval(run_dir, "eval")
    if fixed is None:
        raise SystemExit(f"{run_dir}/eval/metrics.json: missing; evaluate the run first")
    dataset = meta["run_config"]["data"]["dataset"]
    section = metrics_lines(
        name, dataset, fixed, _read_eval(run_dir, "eval-val-f1"), _read_eval(run_dir, "eval-tta")
    )
    md = shipped.with_suffix(".md")
    atomic_write_text(md, replace_metrics_section(md.read_text(), section))
    tta = run_dir / "eval-tta" / "metrics.json"
    if results_name and tta.is_file():
        atomic_write_text(REPO / "results" / results_name / "metrics-tta.json", tta.read_text())
    print(f"rewrote the test metrics of {md}")


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
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
    ap.add_argument(
        "--results-name",
        default=None,
        help="folder under results/ (default: the run's config name)",
    )
    args = ap.parse_args()
    if args.metrics_only:
        refresh_card(args.run_dir, args.name, args.results_name)
        return
    if not args.command:
        ap.error("--command is required (the exact training command)")

    tensors, meta = read_checkpoint(args.run_dir / "best.safetensors")
    # A soup's epochs and wall time are its ingredients' (in its metadata), not one run's.
    last = meta if meta.get("soup") else read_checkpoint(args.run_dir / "last.safetensors")[1]
    fixed = json.loads((args.run_dir / "eval" / "metrics.json").read_text())
    valf1 = _read_eval(args.run_dir, "eval-val-f1")
    tta = _read_eval(args.run_dir, "eval-tta")
    dataset = meta["run_config"]["data"]["dataset"]
    train = load_dataset(dataset, args.data_root, "train")
    wdir = REPO / "src" / "saunet" / "weights"
    if valf1:
        threshold = {p: valf1["protocols"][p]["threshold"] for p in ("paper", "fov")}
    elif (threshold := start_threshold(wdir, meta.get("init_weights"))) is None:
        raise SystemExit(
            f"{args.run_dir}: no eval-val-f1/ and no shipped starting weights to carry a "
            "segmentation threshold from; train with held-out validation images"
        )
    meta = {
        **{
            k: v
            for k, v in meta.items()
            if k not in ("format_version", "created", "code_version", "path")
        },
        "epoch": last["epoch"],  # epochs trained; best_epoch is the one shipped
        "elapsed_seconds": last["elapsed_seconds"],
        "threshold": threshold,
        "threshold_source": "val-f1" if valf1 else "start",
        "scale": training_scale_meta([s["fov"] for s in train], FIELD_ANGLE.get(dataset)),
        "test_metrics": {
            "threshold_0.5": {p: fixed["protocols"][p]["pooled"] for p in ("paper", "fov")},
            **(
                {"threshold_val_f1": {p: valf1["protocols"][p]["pooled"] for p in ("paper", "fov")}}
                if valf1
                else {}
            ),
            **(
                {"threshold_0.5_tta": {p: tta["protocols"][p]["pooled"] for p in ("paper", "fov")}}
                if tta
                else {}
            ),
        },
        "training_command": args.command,
    }
    results_name = args.results_name or meta["run_config"]["name"]
    lineage = earlier_stage(wdir, meta.get("init_weights"))  # before anything is replaced
    save_checkpoint(wdir / f"sa-unet-{args.name}.safetensors", tensors, meta, sidecar=False)
    atomic_write_text(
        wdir / f"sa-unet-{args.name}.md",
        card(
            args.name,
            meta,
            fixed,
            valf1,
            args.command,
            args.machine_note,
            results_name,
            lineage,
            tta,
        ),
    )

    res = collect_run(args.run_dir, REPO / "results", label="cpu",
                      dest=REPO / "results" / results_name)  # fmt: skip
    print(f"shipped {wdir / f'sa-unet-{args.name}.safetensors'} and its card; summaries in {res}")


if __name__ == "__main__":
    main()
