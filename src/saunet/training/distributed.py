"""Minimal helpers for PyTorch distributed data parallel under ``torchrun``.

Launch: ``torchrun --nproc_per_node=N -m saunet train --config configs/drive.yaml``.
``torchrun`` sets ``RANK``/``WORLD_SIZE``/``LOCAL_RANK``; without them everything runs in
one process. The backend is NCCL on GPUs and gloo on CPUs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as torch_dist


@dataclass
class DistInfo:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        if self.world > 1:
            torch_dist.barrier()


def init_distributed() -> DistInfo:
    """Join the process group ``torchrun`` describes, or return a single-process info."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    if not torch_dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        if backend == "nccl":
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        torch_dist.init_process_group(backend=backend)
    return DistInfo(
        torch_dist.get_rank(), torch_dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0"))
    )


def broadcast_flag(flag: bool, info: DistInfo) -> bool:
    """Rank 0's ``flag`` on every rank."""
    if info.world <= 1:
        return flag
    t = torch.tensor([1 if flag else 0], dtype=torch.int32)
    torch_dist.broadcast(t, src=0)
    return bool(t.item())
