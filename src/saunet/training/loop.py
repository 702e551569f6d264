"""The training loop (paper Sec. III-C), single process or under ``torchrun``.

A run directory receives ``config.yaml`` (resolved), ``log.csv`` (one row per epoch),
``best.safetensors`` / ``last.safetensors`` (+ ``.json`` sidecars), ``curves.png`` and,
at the end, ``eval/`` with the test-split evaluation (:mod:`saunet.training.rundir` says
what survives a kill and how a resume makes them agree again).
"""

from __future__ import annotations

import logging
import math
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from saunet.config import RunConfig, TrainConfig, read_config_dict
from saunet.data.calibre import calibre_scale_meta, to_calibre
from saunet.data.datasets import load_dataset, resolve_data_root
from saunet.data.online import OnlineAugment
from saunet.data.splits import make_train_val
from saunet.errors import UserError
from saunet.evaluation.metrics import accuracy, confusion_counts, f1, roc_auc
from saunet.evaluation.pipeline import evaluate_checkpoint
from saunet.models import UNet
from saunet.training.batches import ImageSet, TrainingData, epoch_generator
from saunet.training.curves import plot_curves
from saunet.training.distill import attach_teacher, mix_targets
from saunet.training.distributed import broadcast_flag, init_distributed
from saunet.training.ema import ema_decay_at, ema_update_, make_ema
from saunet.training.rundir import (
    load_resume_state,
    prepare_run_dir,
    recorded_data_root,
    repair_sidecars,
    resume_rows,
    write_log,
)
from saunet.training.schedule import learning_rate
from saunet.training.state import epoch_seed, init_from_weights, save_run_state
from saunet.utils.device import autocast, describe_hardware, resolve_device, resolve_precision

log = logging.getLogger(__name__)

PLOT_INTERVAL_S = 30.0
#: Training steps between reads of the running loss on a GPU (each read waits for the GPU).
SYNC_EVERY_GPU = 25


class TrainingDiverged(UserError):
    """The loss became NaN or infinite; the run stops instead of training on garbage."""


def loss_fn(name: str, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``bce`` (paper: binary cross-entropy on sigmoid outputs, over the whole image) or
    ``bce+dice`` (BCE plus soft Dice). Computed in fp32 from logits for stability."""
    logits = logits.float()
    bce = F.binary_cross_entropy_with_logits(logits, target)
    if name == "bce":
        return bce
    if name == "bce+dice":
        p = torch.sigmoid(logits)
        inter = (p * target).sum()
        dice = 1 - (2 * inter + 1) / (p.sum() + target.sum() + 1)
        return bce + dice
    raise ValueError(f"unknown loss {name!r}; use bce or bce+dice")


def load_training_data(cfg: RunConfig, data_root: str | None) -> TrainingData:
    """The run's training and validation images: every dataset of ``data.dataset``, each
    brought to ``data.px_per_degree`` when set, each holding out its own validation images."""
    d = cfg.data
    train: list[dict] = []
    val: list[dict] = []
    for name in d.datasets:
        # A folder dataset's root is only the base of relative folder paths; it may be absent.
        root = data_root or d.root
        root = resolve_data_root(root) if name != "folder" else root
        # A folder dataset with per-split folders trains on its "train" split only; a flat
        # one (no split keys) is all training data.
        split = "all" if name == "folder" and "train" not in (d.folder or {}) else "train"
        originals = load_dataset(name, root, split, folder=d.folder)
        if d.px_per_degree is not None:
            originals = to_calibre(originals, name, d.px_per_degree, d.field_angle_deg)
        t, v = make_train_val(
            originals,
            augmentation=d.augmentation,
            validation=d.validation,
            val_count=d.val_count,
            seed=cfg.train.seed,
            split_seed=d.split_seed,
        )
        train += t
        val += v
    return TrainingData(train, val, d, cfg.train.seed)


@torch.no_grad()
def validate(
    model: torch.nn.Module,
    val: ImageSet,
    device: torch.device,
    amp: torch.dtype | None,
    batch_size: int,
) -> dict[str, float]:
    """Validation BCE (whole image) and ACC/AUC/F1 inside the FOV at threshold 0.5."""

    if len(val) == 0:
        return {"val_loss": math.nan, "val_acc": math.nan, "val_auc": math.nan, "val_f1": math.nan}
    model.eval()
    losses, probs, labels = [], [], []
    for batch in val.in_order(batch_size):
        x = batch["image"].to(device)
        with autocast(device, amp):
            logits = model(x)
        y = batch["label"].to(device)
        losses.append(F.binary_cross_entropy_with_logits(logits.float(), y).item() * len(x))
        fov = batch["fov"].bool().cpu()
        probs.append(torch.sigmoid(logits.float()).cpu()[fov].numpy())
        labels.append(batch["label"].cpu()[fov].bool().numpy())
    p, t = np.concatenate(probs), np.concatenate(labels)
    counts = confusion_counts(p >= 0.5, t)
    return {
        "val_loss": float(sum(losses) / len(val)),
        "val_acc": float(accuracy(counts)),
        "val_auc": float(roc_auc(p, t)),
        "val_f1": float(f1(counts)),
    }


def _current_lr(tc: TrainConfig, epoch: int, fraction: float, elapsed_seconds: float) -> float:
    """Learning rate by epoch progress, or by wall time for ``clock: time`` recipes."""
    if tc.clock == "time":
        if not tc.max_minutes:
            raise UserError("train.clock=time needs train.max_minutes")
        virtual = min(elapsed_seconds / (60 * tc.max_minutes), 1.0) * tc.epochs
        return learning_rate(tc, int(virtual), virtual - int(virtual))
    return learning_rate(tc, epoch, fraction)


def _better(select: str, value: float, best: float | None) -> bool:
    if math.isnan(value):
        return False
    if best is None:
        return True
    return value < best if select == "loss" else value > best


def train(
    cfg: RunConfig,
    run_dir: str | Path,
    *,
    data_root: str | None = None,
    resume: bool = False,
    overrides: list[str] | None = None,
    evaluate_test: bool = True,
    progress: bool = True,
) -> dict[str, Any]:
    """Train ``cfg`` into ``run_dir``; returns a summary (best epoch, metrics, wall time).

    With ``resume=True`` the run's own ``config.yaml`` is used, with ``overrides``
    (``section.key=value``) where they are safe, and training continues after the last
    completed epoch; because every random stream is seeded from ``(seed, epoch)`` the
    result equals an uninterrupted run on the same hardware. The folder is locked for the
    whole run (:class:`saunet.utils.lock.FolderLock`, main process only).
    """
    run_dir = Path(run_dir)
    dist = init_distributed()
    lock = None
    if dist.is_main:
        cfg, lock, data_root = prepare_run_dir(
            run_dir, cfg, resume, overrides=overrides, data_root=data_root
        )
    dist.barrier()  # the other ranks read the config the main process has just written
    if not dist.is_main and resume:
        cfg = RunConfig.from_dict(read_config_dict(run_dir / "config.yaml"))
        data_root = data_root or recorded_data_root(run_dir)
    try:
        return _train(cfg, run_dir, dist, data_root, resume, evaluate_test, progress)
    finally:
        if lock is not None:
            lock.release()


def _train(
    cfg: RunConfig,
    run_dir: Path,
    dist: Any,
    data_root: str | None,
    resume: bool,
    evaluate_test: bool,
    progress: bool,
) -> dict[str, Any]:
    tc = cfg.train
    if tc.threads:
        torch.set_num_threads(tc.threads)
    device = resolve_device(tc.device)
    if device.type == "cuda" and dist.world > 1:
        device = torch.device("cuda", dist.local_rank)
    amp = resolve_precision(tc.precision, device)
    log.info("device %s, autocast %s, world size %d", device, amp, dist.world)

    data = load_training_data(cfg, data_root)
    if device.type == "cuda":
        data.to(device)
        # Fixed input sizes: let cuDNN pick the fastest convolution algorithms once.
        torch.backends.cudnn.benchmark = True
    augment = None
    if cfg.data.augmentation == "online":
        augment = OnlineAugment.from_ops(cfg.data.online_ops)
        log.info("online augmentation: %r", augment)

    torch.manual_seed(tc.seed)
    model = UNet(cfg.model).to(device)
    if tc.channels_last:
        model = model.to(memory_format=torch.channels_last)
    init_meta = init_from_weights(model, tc.init_weights) if tc.init_weights and not resume else {}
    if tc.distill_from:
        # Recomputed on resume too: the teacher is deterministic and its maps are not saved.
        teacher = attach_teacher(tc.distill_from, data.train, device, amp, progress=progress)
        init_meta["distill"] = {**teacher, "weight": tc.distill_weight}
    opt = torch.optim.Adam(model.parameters(), lr=tc.lr, weight_decay=tc.weight_decay)
    # With train.ema_decay the weight average is what is validated, selected and saved as
    # best.safetensors; last.safetensors holds both, so a resumed run continues both.
    ema = make_ema(model) if tc.ema_decay is not None else None
    eval_model = ema if ema is not None else model

    start_epoch, best, best_epoch, elapsed = 0, None, -1, 0.0
    rows: list[dict[str, Any]] = []
    if resume:
        meta = load_resume_state(run_dir, model, opt, ema)
        start_epoch = meta["epoch"] + 1
        if tc.epochs < start_epoch:
            raise UserError(
                f"{run_dir}: train.epochs={tc.epochs} is fewer than the {start_epoch} epochs "
                "already done; pass a larger train.epochs=N or none"
            )
        best, best_epoch, elapsed = (
            meta.get("best"),
            meta.get("best_epoch", -1),
            meta["elapsed_seconds"],
        )
        rows = resume_rows(run_dir, meta)
        if dist.is_main:
            # The log and sidecars are made to agree with the restored epoch at once, so a
            # kill before the next epoch ends finds them consistent too.
            write_log(run_dir / "log.csv", rows)
            repair_sidecars(run_dir)
        log.info("resuming %s after epoch %d", run_dir, start_epoch)

    train_model: torch.nn.Module = model
    if dist.world > 1:
        train_model = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None
        )

    n_batches = data.num_batches(tc.batch_size, dist.world)
    sync_every = 1 if device.type == "cpu" else SYNC_EVERY_GPU
    common_meta = {
        "model_config": cfg.model.to_dict(),
        "run_config": cfg.to_dict(),
        "seed": tc.seed,
        "data": {"dataset": cfg.data.dataset, "train": data.train.names, "val": data.val.names},
        **({"scale": calibre_scale_meta(cfg.data.px_per_degree)} if cfg.data.px_per_degree else {}),
        "hardware": describe_hardware(device, dist.world),
        **init_meta,
    }
    stopped_early = False
    plot_title, last_plot = f"{cfg.name}: {cfg.model.name}", -math.inf
    for epoch in range(start_epoch, tc.epochs):
        t0 = time.perf_counter()
        torch.manual_seed(epoch_seed(tc.seed, epoch))
        aug_gen = epoch_generator(tc.seed, epoch, stream=999_999)
        train_model.train()
        # The running loss stays on the device and is read (a host-device sync) only every
        # `sync_every` steps: on a GPU a read per step would stall the queue behind each
        # small batch. A NaN is then caught within that many steps, before anything is saved.
        loss_sum, seen, total = torch.zeros((), device=device), 0, 0.0
        bar = tqdm(
            data.epoch_batches(epoch, tc.batch_size, rank=dist.rank, world=dist.world),
            total=n_batches,
            desc=f"epoch {epoch + 1}/{tc.epochs}",
            disable=not (progress and dist.is_main),
            leave=False,
            mininterval=2.0,
        )
        for step, batch in enumerate(bar):
            lr = _current_lr(tc, epoch, step / n_batches, elapsed + time.perf_counter() - t0)
            for g in opt.param_groups:
                g["lr"] = lr
            if augment is not None:
                batch = augment(batch, generator=aug_gen)
            x = batch["image"].to(device, non_blocking=True)
            y = batch["label"].to(device, non_blocking=True)
            if tc.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            with autocast(device, amp):
                logits = train_model(x)
            if "soft" in batch:
                soft = batch["soft"].to(device, non_blocking=True)
                y = mix_targets(y, soft, tc.distill_weight)
            loss = loss_fn(tc.loss, logits, y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if tc.grad_clip:
                torch.nn.utils.clip_grad_norm_(model.parameters(), tc.grad_clip)
            opt.step()
            if ema is not None:
                ema_update_(ema, model, ema_decay_at(epoch * n_batches + step, tc.ema_decay))
            loss_sum += loss.detach().float() * len(x)
            seen += len(x)
            if (step + 1) % sync_every and step + 1 < n_batches:
                continue
            total = float(loss_sum)
            if not math.isfinite(total):
                raise TrainingDiverged(
                    f"loss became {total} by epoch {epoch + 1}, step {step + 1}; "
                    f"lower train.lr (now {tc.lr}) or use train.precision=fp32; "
                    f"the last good checkpoint is {run_dir / 'last.safetensors'}"
                )
            bar.set_postfix(loss=f"{total / seen:.4f}", lr=f"{lr:.2e}",
                            ips=f"{seen * dist.world / (time.perf_counter() - t0):.1f}/s")  # fmt: skip
        bar.close()
        stop = False
        if dist.is_main:
            # The epoch that exhausts the time budget is always validated, so a stopped run
            # has a best checkpoint even when it stops between eval_every epochs.
            out_of_time = (
                tc.max_minutes is not None
                and (elapsed + time.perf_counter() - t0) / 60 >= tc.max_minutes
            )
            is_eval = (epoch + 1) % tc.eval_every == 0 or epoch + 1 == tc.epochs or out_of_time
            metrics = (
                validate(eval_model, data.val, device, amp, tc.batch_size)
                if is_eval
                else {k: math.nan for k in ("val_loss", "val_acc", "val_auc", "val_f1")}
            )
            seconds = time.perf_counter() - t0
            elapsed += seconds
            row = {"epoch": epoch + 1, "train_loss": total / max(seen, 1), **metrics,
                   "lr": lr, "seconds": seconds, "elapsed_minutes": elapsed / 60,
                   "items_per_second": seen * dist.world / seconds}  # fmt: skip
            rows.append(row)
            value = metrics["val_loss" if tc.select == "loss" else f"val_{tc.select}"]
            if len(data.val) == 0:
                value = float(epoch)  # no validation: the latest epoch is the best one
            improved = _better(tc.select if len(data.val) else "epoch", value, best)
            if improved:
                best, best_epoch = value, epoch
            meta = {**common_meta, "epoch": epoch, "metrics": row, "best": best,
                    "best_epoch": best_epoch, "elapsed_seconds": elapsed}  # fmt: skip
            if improved:
                save_run_state(run_dir / "best.safetensors", eval_model, None, meta)
            # Only the files a resume reads name the data root: best.safetensors is shipped.
            resume_meta = {**meta, "data_root": data_root} if data_root else meta
            if tc.save_every and (epoch + 1) % tc.save_every == 0:
                # With the optimizer state, so that a damaged last.safetensors can be
                # replaced by the newest of these on resume.
                save_run_state(
                    run_dir / "checkpoints" / f"epoch{epoch + 1:04d}.safetensors",
                    model, opt, resume_meta, ema=ema, publish_ema=True,
                )  # fmt: skip
            # last.safetensors is the epoch's commit point: a resume restores the log row
            # from its metadata if a kill comes before the log is written.
            save_run_state(run_dir / "last.safetensors", model, opt, resume_meta, ema=ema)
            write_log(run_dir / "log.csv", rows)
            # Plotting takes ~0.3 s: every epoch on a CPU, but at most twice a minute when
            # epochs take a second (GPU); the final plot is drawn after the loop.
            if time.perf_counter() - last_plot >= PLOT_INTERVAL_S:
                plot_curves(run_dir / "log.csv", run_dir / "curves.png", title=plot_title)
                last_plot = time.perf_counter()
            log.info(
                "epoch %d/%d loss %.4f val_loss %.4f val_auc %.4f val_f1 %.4f (%.0f s)",
                epoch + 1, tc.epochs, row["train_loss"], row["val_loss"], row["val_auc"], row["val_f1"], seconds,
            )  # fmt: skip
            stop = tc.max_minutes is not None and elapsed / 60 >= tc.max_minutes
        if broadcast_flag(stop, dist):
            stopped_early = epoch + 1 < tc.epochs
            log.info(
                "stopping after epoch %d: time budget of %s minutes reached",
                epoch + 1,
                tc.max_minutes,
            )
            break

    if dist.is_main and rows:
        plot_curves(run_dir / "log.csv", run_dir / "curves.png", title=plot_title)
    summary: dict[str, Any] = {
        "run_dir": str(run_dir), "best_epoch": best_epoch + 1, "best": best,
        "epochs_done": len(rows), "elapsed_minutes": elapsed / 60, "stopped_early": stopped_early,
    }  # fmt: skip
    has_test = cfg.data.dataset in ("drive", "chase") or "test" in (cfg.data.folder or {})
    if dist.is_main and evaluate_test and has_test:
        summary["test"] = evaluate_run(run_dir, cfg, data_root, device)
    dist.barrier()
    return summary


def evaluate_run(
    run_dir: Path, cfg: RunConfig, data_root: str | None, device: torch.device
) -> dict:
    """Evaluate ``best.safetensors`` on the test split (fp32, both protocols).

    ``eval/`` uses the paper's fixed threshold 0.5. With held-out validation originals,
    ``eval-val-f1/`` also uses the threshold that maximises F1 on them (never on test).
    """

    # A folder dataset names its own paths: $SAUNET_DATA (the DRIVE/CHASE root) is not its
    # root and may point anywhere, even nowhere.
    root = (
        data_root or cfg.data.root
        if cfg.data.dataset == "folder"
        else data_root or cfg.data.root or os.environ.get("SAUNET_DATA")
    )
    common = dict(protocols=("paper", "fov"), device=str(device), overwrite=True,
                  folder=cfg.data.folder, pad_to="paper" if cfg.data.dataset != "folder" else None)  # fmt: skip
    result = {"fixed": evaluate_checkpoint(
        run_dir / "best.safetensors", cfg.data.dataset, root, out_dir=run_dir / "eval", **common
    )}  # fmt: skip
    if cfg.data.validation == "holdout" or (
        cfg.data.validation == "paper" and cfg.data.augmentation != "offline"
    ):
        result["val-f1"] = evaluate_checkpoint(
            run_dir / "best.safetensors", cfg.data.dataset, root,
            out_dir=run_dir / "eval-val-f1", threshold_policy="val-f1", write_probs=False, **common,
        )  # fmt: skip
    return result
