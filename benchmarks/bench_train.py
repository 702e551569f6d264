"""Training-step throughput on this machine: precision x memory format x patch size.

Usage: python benchmarks/bench_train.py [--steps 6] [--threads 2]
Prints megapixels per second of forward+backward+Adam for SA-UNet. Used to choose the
defaults of ``train.precision`` / ``train.channels_last`` and the CPU recipes.
"""

from __future__ import annotations

import argparse
import platform
import time

import torch
import torch.nn.functional as F

from saunet import build_model


def step_time(
    patch: int, batch: int, amp: torch.dtype | None, channels_last: bool, steps: int
) -> float:
    torch.manual_seed(0)
    model = build_model("sa-unet")
    mf = torch.channels_last if channels_last else torch.contiguous_format
    model = model.to(memory_format=mf)
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    x = torch.rand(batch, 3, patch, patch).contiguous(memory_format=mf)
    y = (torch.rand(batch, 1, patch, patch) > 0.9).float()
    times = []
    for i in range(steps + 2):
        t0 = time.perf_counter()
        with torch.autocast("cpu", dtype=amp, enabled=amp is not None):
            logits = model(x)
        loss = F.binary_cross_entropy_with_logits(logits.float(), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if i >= 2:  # warm-up steps excluded
            times.append(time.perf_counter() - t0)
    return sorted(times)[len(times) // 2]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(
        f"# {platform.processor() or platform.machine()}, torch {torch.__version__}, {args.threads} threads"
    )
    print("| patch x batch | precision | channels-last | s/step | Mpx/s |")
    print("|---|---|---|---:|---:|")
    for patch, batch in [(128, 16), (192, 8), (256, 4)]:
        for amp in (None, torch.bfloat16):
            for cl in (False, True):
                t = step_time(patch, batch, amp, cl, args.steps)
                mpx = patch * patch * batch / t / 1e6
                name = "bf16 autocast" if amp else "fp32"
                print(f"| {patch}x{batch} | {name} | {cl} | {t:.3f} | {mpx:.2f} |", flush=True)


if __name__ == "__main__":
    main()
