"""Average the weights of several fine-tuning runs that share one start (a weight soup).

Every RUN must have been started (``train.init_weights``) from the same weights, the
``--start`` checkpoint (checked against the sha256 each run recorded), with the same
network and the same held-out validation images. The start itself is an ingredient too
unless ``--no-start``. Ingredients and soups are scored on those validation images (FOV
AUC, as in training) and the recipe picks the soup there, never on the test split:

* ``greedy`` (default; Wortsman et al., ICML 2022): best ingredient first, then each
  next-best joins if the average with it scores at least as well;
* ``uniform``: every ingredient, equally weighted. This is also the only recipe for runs
  that held out no validation images (``data.validation: none``): with nothing to score
  on, the soup is fixed in advance and the scores are left empty.

Writes a run directory that ``tools/ship_weights.py`` accepts: ``best.safetensors`` (the
averaged tensors; its metadata lists every ingredient's file, sha256, config, seed, wall
time and score, and which joined), the first run's ``config.yaml``/``log.csv``/
``curves.png``, ``soup.csv``, and the test evaluations ``eval/`` (threshold 0.5) and
``eval-val-f1/`` (with validation images), computed once, for the chosen soup only. See
``soup``.

Usage:
    python research/soup_weights.py RUN [RUN ...] --out OUT_DIR [--start drive] [--recipe greedy]

Example:
    python research/soup_weights.py runs/drive-cpu-clean runs/drive-cpu-context-s1 \\
        --out runs/drive-soup --data-root ../shared/data
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from derived import check_new_dir, model_tensors, run_tool, validation_samples, write_derived_run
from interpolate import state_fov_auc
from soup import SOUP_RECIPES, SoupResult, average_states, greedy_soup, uniform_soup

from saunet.config import ModelConfig
from saunet.errors import UserError
from saunet.models.checkpoint import read_checkpoint, resolve_checkpoint
from saunet.models.unet import UNet
from saunet.paper import PAPER_PAD
from saunet.utils.files import file_sha256


def _ingredient(name: str, path: Path, meta: dict) -> dict:
    """What the soup's metadata (and so the model card) records about one ingredient.

    Epochs and wall time are the whole run's (its ``last.json``, next to the checkpoint),
    not those at the moment the best checkpoint was written."""
    last_json = path.parent / "last.json"
    last = json.loads(last_json.read_text()) if last_json.is_file() else meta
    hw = meta.get("hardware", {})
    return {
        "name": name,
        "file": str(path),
        "sha256": file_sha256(path),
        "config": meta.get("run_config", {}).get("name"),
        "seed": meta.get("seed"),
        "best_epoch": meta.get("best_epoch"),
        "epoch": last.get("epoch"),
        "elapsed_seconds": last.get("elapsed_seconds"),
        "threads": hw.get("threads"),
        "cpu": hw.get("cpu"),
        "distill_weight": (meta.get("distill") or {}).get("weight"),
    }


#: Model settings that act only while training (DropBlock has no weights): runs that
#: differ only in these share one network and can be averaged.
TRAINING_ONLY = ("drop_prob", "block_size", "bn_momentum")


def _network(meta: dict) -> dict:
    return {k: v for k, v in meta["model_config"].items() if k not in TRAINING_ONLY}


def _load_runs(args: argparse.Namespace) -> tuple[list[dict], list[dict], dict, dict]:
    """``(states, ingredients, first run's meta, start {file, sha256})``; every check named
    by file."""
    runs = []
    for r in args.runs:
        path = r / "best.safetensors" if r.is_dir() else r
        if not path.is_file():
            raise UserError(f"{path}: not found; pass run directories written by `saunet train`")
        tensors, meta = read_checkpoint(path)
        if not meta.get("init_weights"):
            raise UserError(
                f"{path}: the run was not started from other weights (train.init_weights)"
            )
        runs.append((r, path, tensors, meta))
    first = runs[0][3]
    start_path = resolve_checkpoint(args.start or first["init_weights"]["spec"])
    start_sha = file_sha256(start_path)
    for _, path, _, meta in runs:
        if meta["init_weights"]["sha256"] != start_sha:
            raise UserError(
                f"{path}: started from other weights (sha256 {meta['init_weights']['sha256'][:16]}...) "
                f"than {start_path} ({start_sha[:16]}...); a soup needs one start (--start)"
            )
        if _network(meta) != _network(first):
            raise UserError(f"{path}: another network than {runs[0][1]}; runs cannot be mixed")
        if meta["data"]["val"] != first["data"]["val"]:
            raise UserError(
                f"{path}: other held-out validation images than {runs[0][1]} "
                "(train with data.split_seed to fix them); runs cannot be mixed"
            )
    states = [model_tensors(t) for _, _, t, _ in runs]
    ingredients = [_ingredient(str(r), p, m) for r, p, _, m in runs]
    if not args.no_start:
        start_tensors, start_meta = read_checkpoint(start_path)
        states.insert(0, model_tensors(start_tensors))
        ingredients.insert(0, {**_ingredient("start", start_path, start_meta), "start": True})
    return states, ingredients, first, {"file": start_path.name, "sha256": start_sha}


def _cell(x: float | None) -> str:
    return "" if x is None else f"{x:.6f}"


def run(args: argparse.Namespace) -> Path:
    check_new_dir(args.out)
    states, ingredients, first, start = _load_runs(args)
    if len(states) < 2:
        raise UserError("a soup needs at least two ingredients (pass runs, or drop --no-start)")
    dataset = first["run_config"]["data"]["dataset"]
    if first["data"]["val"]:
        val = validation_samples(first, args.data_root, args.runs[0])
        model = UNet(ModelConfig.from_dict(first["model_config"]))

        def score(state: dict) -> float:
            return state_fov_auc(model, state, val, pad_to=PAPER_PAD.get(dataset))

        result = (greedy_soup if args.recipe == "greedy" else uniform_soup)(states, score)
        logging.info(
            "%s soup of %d/%d ingredients: validation FOV AUC %.6f (best alone %.6f)",
            args.recipe, len(result.chosen), len(states), result.score, max(result.solo),
        )  # fmt: skip
    elif args.recipe == "greedy":
        raise UserError(
            f"{args.runs[0]}: the runs held out no validation images, so a greedy soup has "
            "nothing to choose on; use --recipe uniform"
        )
    else:  # nothing to score on: the uniform soup is fixed in advance, scores stay empty
        result = SoupResult(list(range(len(states))), None, [None] * len(states))
    tried = {i: s for i, s, _ in result.steps}
    for i, ing in enumerate(ingredients):
        ing.update(validation_fov_auc=result.solo[i], chosen=i in result.chosen,
                   soup_fov_auc_with_it=tried.get(i))  # fmt: skip
    chosen_runs = [ingredients[i] for i in result.chosen if not ingredients[i].get("start")]
    # Per-run records (distillation, interpolation) live in the ingredient list instead.
    meta = {
        **{k: v for k, v in first.items() if k not in ("distill", "interpolation")},
        "best": result.score,
        "elapsed_seconds": sum(i["elapsed_seconds"] or 0.0 for i in chosen_runs),
        "soup": {
            "recipe": args.recipe,
            "start": start,
            "validation_fov_auc": result.score,
            "ingredients": ingredients,
            "command": " ".join(sys.argv),
        },
    }
    rows = [["ingredient", "sha256", "validation_fov_auc", "soup_fov_auc_with_it", "chosen"]]
    rows += [
        [i["name"], i["sha256"][:16], _cell(i["validation_fov_auc"]),
         _cell(i["soup_fov_auc_with_it"]), int(i["chosen"])]
        for i in ingredients
    ]  # fmt: skip
    rows.append(["soup", "", _cell(result.score), "", len(result.chosen)])
    soup = average_states([states[i] for i in result.chosen])
    # Epoch counts differ between ingredients, so the soup's last.json has wall time only.
    last = {"elapsed_seconds": meta["elapsed_seconds"], "hardware": first.get("hardware"),
            "run_config": first.get("run_config")}  # fmt: skip
    return write_derived_run(
        args.out, soup, meta, source_run=args.runs[0], csv_name="soup.csv",
        csv_rows=rows, data_root=args.data_root, last=last,
    )  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("runs", type=Path, nargs="+", help="fine-tuning run directories (one start)")
    ap.add_argument("--out", type=Path, required=True, help="new run directory to write")
    ap.add_argument("--start", help="the weights the runs started from (default: as recorded)")
    ap.add_argument("--no-start", action="store_true", help="leave the start out of the soup")
    ap.add_argument("--recipe", choices=SOUP_RECIPES, default="greedy")
    ap.add_argument("--data-root", default=None, help="datasets root (default: $SAUNET_DATA)")
    return run_tool(run, ap.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
