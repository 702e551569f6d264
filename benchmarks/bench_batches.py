"""Cost of building and augmenting training batches, and, on a GPU, how often it waits.

Usage: python benchmarks/bench_batches.py [--config configs/drive-gpu.yaml] [--batches 40]
                                          [--device auto|cpu|cuda] [--data-root ROOT]

Times the data side of a training step alone (no network): the batches of one epoch of the
recipe, cut from images held on ``--device`` and augmented there, in milliseconds per batch
and items per second. On CUDA it also counts host-device synchronisations per batch with
``torch.cuda.set_sync_debug_mode`` (each one idles the GPU while Python builds the next batch,
which starved the patch recipes when four runs shared one GPU; the goal is 0).

Example: python benchmarks/bench_batches.py --config configs/drive-cpu.yaml --batches 20
"""

from __future__ import annotations

import argparse
import platform
import time
import warnings

import torch
import yaml

from saunet.config import RunConfig
from saunet.data.online import OnlineAugment
from saunet.training.batches import epoch_generator
from saunet.training.loop import load_training_data
from saunet.utils.device import resolve_device


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure(cfg: RunConfig, data_root: str | None, device: torch.device, batches: int) -> dict:
    data = load_training_data(cfg, data_root).to(device)
    augment = OnlineAugment() if cfg.data.augmentation == "online" else None
    bs = cfg.train.batch_size

    def run(n: int, epoch: int) -> tuple[int, int]:
        items = syncs = 0
        gen = epoch_generator(cfg.train.seed, epoch, stream=999_999)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            if device.type == "cuda":
                torch.cuda.set_sync_debug_mode("warn")
            try:
                for i, batch in enumerate(data.epoch_batches(epoch, bs)):
                    if i == n:
                        break
                    if augment is not None:
                        batch = augment(batch, generator=gen)
                    items += len(batch["name"])
            finally:
                if device.type == "cuda":
                    torch.cuda.set_sync_debug_mode("default")
            syncs = sum("synchroniz" in str(w.message) for w in caught)
        return items, syncs

    run(3, epoch=0)  # warm-up: allocator, cuDNN, pinned-memory pool
    _sync(device)
    t0 = time.perf_counter()
    items, syncs = run(batches, epoch=1)
    _sync(device)
    seconds = time.perf_counter() - t0
    done = -(-items // bs)
    return {"ms_per_batch": 1000 * seconds / done, "items_per_s": items / seconds,
            "syncs_per_batch": syncs / done if device.type == "cuda" else float("nan"),
            "batches": done}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", default="configs/drive-gpu.yaml")
    ap.add_argument("--batches", type=int, default=40)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    with open(args.config) as f:
        cfg = RunConfig.from_dict(yaml.safe_load(f))
    device = resolve_device(args.device)
    r = measure(cfg, args.data_root, device, args.batches)
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.machine()
    print(f"# {args.config} on {device} ({where}), torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, batch {cfg.train.batch_size}")  # fmt: skip
    print("| batches | ms / batch | items / s | syncs / batch |")
    print("|---:|---:|---:|---:|")
    print(f"| {r['batches']} | {r['ms_per_batch']:.1f} | {r['items_per_s']:.0f} | "
          f"{r['syncs_per_batch']:.1f} |")  # fmt: skip


if __name__ == "__main__":
    main()
