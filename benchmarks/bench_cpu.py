"""One table per CPU kind: every speed and memory figure of ``saunet segment``, in one run.

Runs, each in its own process, on this machine:

1. ``saunet --help``: wall time, median of 5 (imports nothing heavy);
2. ``benchmarks/bench_inference.py``: the network alone on one 592 x 592 image for each path
   ``segment`` can take, with ``torch-fp32`` (eager, BatchNorm not folded) as the baseline
   a plain PyTorch user gets;
3. ``benchmarks/bench_segment.py --modes off``: the 20 DRIVE test images end to end
   (decode, FOV, scale, predict, write the default outputs) in the default lanes and in one
   lane, against the predictor alone;
4. ``benchmarks/bench_memory.py``: one 3504 x 2336 photograph end to end at the default
   policy (``--weights auto``: the ``general`` weights for that size): wall time and peak RSS.

Usage: python benchmarks/bench_cpu.py [--data-root ../shared/data] [--json-out FILE]
Example: python benchmarks/bench_cpu.py --json-out /tmp/cpu.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _run(args: list[str]) -> str:
    res = subprocess.run([sys.executable, *args], capture_output=True, text=True)
    if res.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(args)} failed:\n{res.stderr[-2000:]}")
    return res.stdout


def help_seconds(n: int = 5) -> float:
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "saunet", "--help"], capture_output=True, check=True)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def large_photo() -> tuple[float, float]:
    """``(wall s, peak RSS MB)`` of one 3504 x 2336 photograph, default policy and precision."""
    out = _run([str(HERE / "bench_memory.py"), "--weights", "auto", "--scale", "auto",
                "--precision", "auto"])  # fmt: skip
    row = next(line for line in out.splitlines() if line.startswith("| auto"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    return float(cells[3]), float(cells[2])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data-root", default=os.environ.get("SAUNET_DATA", "../shared/data"))
    ap.add_argument("--json-out", type=Path)
    args = ap.parse_args()
    doc: dict = {"loadavg_start": os.getloadavg()[0], "help_s": help_seconds()}
    with tempfile.TemporaryDirectory() as tmp:
        inf, seg = Path(tmp) / "inference.json", Path(tmp) / "segment.json"
        _run([str(HERE / "bench_inference.py"), "--json-out", str(inf)])
        _run([str(HERE / "bench_segment.py"), "--modes", "off", "--repeats", "5", "--no-guard",
              "--data-root", args.data_root, "--json-out", str(seg)])  # fmt: skip
        doc["inference"] = json.loads(inf.read_text())
        doc["segment"] = json.loads(seg.read_text())
    doc["large_s"], doc["large_rss_mb"] = large_photo()
    doc["loadavg_end"] = os.getloadavg()[0]
    cpu = doc["inference"]["cpu"]
    flags = ", ".join(f for f, on in cpu["flags"].items() if on) or "no AVX-512, no native bf16"
    paths = doc["inference"]["paths"]
    default = doc["inference"]["segment_default"]
    m = doc["segment"]["modes"]["off"]
    rows = [
        ("`saunet --help`", f"{doc['help_s']:.2f} s"),
        ("eager fp32 network, 592 x 592 (plain PyTorch baseline)",
         f"{paths['torch-fp32']['network_ms']} ms"),
        (f"segment's network path here ({default}), 592 x 592", f"{paths[default]['network_ms']} ms"),
        *((f"{name} network, 592 x 592", f"{r['network_ms']} ms") for name, r in paths.items()
          if name not in ("torch-fp32", default)),
        ("predictor alone, per DRIVE test image", f"{m['model_only_ms']:.0f} ms"),
        (f"end to end, per DRIVE test image (20-image folder, {m['lanes']} lanes)",
         f"{m['e2e_ms_per_image']:.0f} ms"),
        ("the same in one lane (reader/writer pipeline)", f"{m['one_lane_ms_per_image']:.0f} ms"),
        ("ratio end to end / predictor (medians of 5 interleaved rounds)", f"{m['ratio']:.2f}"),
        ("ratio per round, lowest - highest",
         f"{min(m['ratio_per_round']):.2f} - {max(m['ratio_per_round']):.2f}"),
        ("3504 x 2336 photograph end to end (fresh process)", f"{doc['large_s']:.1f} s"),
        ("3504 x 2336 peak RSS", f"{doc['large_rss_mb']:.0f} MB"),
    ]  # fmt: skip
    print(f"{cpu['model']} ({flags}), {os.cpu_count()} cores, torch "
          f"{doc['inference']['torch']}, load average {doc['loadavg_start']:.2f} -> "
          f"{doc['loadavg_end']:.2f}")  # fmt: skip
    print("| measure | value |\n|---|---:|")
    for name, value in rows:
        print(f"| {name} | {value} |")
    if args.json_out:
        args.json_out.write_text(json.dumps(doc, indent=2) + "\n")
    if "bf16" not in flags and "amx" not in flags:
        print("(no native bf16 here: bf16 paths are skipped, fp32 is the default)")


if __name__ == "__main__":
    main()
