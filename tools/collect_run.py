"""Copy a finished run's small summaries into ``results/`` (never its weights).

``saunet reproduce`` and ``tools/ship_weights.py`` collect their own runs; this is for runs
made elsewhere, such as those of ``tools/train_gpu.sh`` brought back from a GPU machine.

Usage:
    python tools/collect_run.py RUN_DIR --label paper [--note TEXT]
        -> results/<label>/<dataset>/<model>/seed<k>/  (report sections 2, 3 and 7)
    python tools/collect_run.py RUN_DIR --dest results/NAME [--note TEXT]
        -> results/NAME/  (a single run, report section 9)

Example:
    python tools/collect_run.py runs/gpu/drive --label paper --note "GPU shared with 3 runs"
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from saunet.errors import UserError
from saunet.reporting.collect import collect_run

REPO = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run_dir", type=Path, help="a run directory written by `saunet train`")
    where = ap.add_mutually_exclusive_group(required=True)
    where.add_argument("--label", help="recipe label: paper, cpu, paper-7.5min, ...")
    where.add_argument("--dest", type=Path, help="a folder of its own, e.g. results/drive-gpu")
    ap.add_argument("--note", help="a circumstance the files cannot show (shared GPU, ...)")
    ap.add_argument("--results", type=Path, default=REPO / "results", help="results folder")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if not (args.run_dir / "eval" / "metrics.json").is_file():
        print(f"{args.run_dir}: no eval/metrics.json; evaluate the run first "
              "(saunet evaluate --checkpoint RUN_DIR/best.safetensors ...)", file=sys.stderr)  # fmt: skip
        return 1
    try:
        out = collect_run(args.run_dir, args.results, label=args.label, dest=args.dest,
                          note=args.note)  # fmt: skip
    except UserError as exc:
        print(f"collect_run: {exc}", file=sys.stderr)
        return 1
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
