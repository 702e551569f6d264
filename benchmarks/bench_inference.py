"""CPU inference backends: latency, throughput, memory and accuracy guard (issue 8).

Usage:
    python benchmarks/bench_inference.py [--weights drive|PATH] [--quick] [--json-out FILE]
    python benchmarks/bench_inference.py --weights runs/drive-cpu/best.safetensors \
        --json-out results/inference.json     # the full run, ~6 min on an idle 2-core CPU
    python benchmarks/bench_inference.py --paths eager-fp32 cl-bf16 --no-rss --quick

Every backend ("path") is a predictor with the interface of ``saunet segment``
(:data:`saunet.tiling.Predictor`: ``(N, 3, h, w)`` float32 -> ``(N, h, w)`` probabilities),
so the same object is timed, guarded, and run end to end through
:func:`saunet.segment.segment_files`. Paths (:data:`PATHS`): PyTorch eager fp32 (the
baseline), channels-last fp32 / bf16 autocast, BatchNorm folded into the convolutions
(:func:`saunet.fast.fold_batchnorm`), ``torch.jit.trace`` + ``freeze``, ``torch.compile``
(inductor, freezing) fp32 / bf16 with static shapes (one compile per input shape) and bf16
with dynamic shapes (one compile for all), onnxruntime fp32 (:func:`saunet.export.export_onnx`),
and onnxruntime static int8 QDQ calibrated on DRIVE *training* images, naive (per-tensor,
every op) and careful (per-channel weights, percentile calibration, first conv, head and
spatial attention kept in fp32).

Measured in one run, all with ``--threads`` (2) threads:

1. matrix-multiply peak: best ``torch.mm`` of 2048x2048 in fp32 and bf16 (and
   ``torch._int_mm`` int8), in GFLOP/s;
2. latency of one 592x592 (DRIVE padded) and one 1008x1008 (CHASE_DB1 padded) image,
   batch 1: median of ``--repeats`` predictor calls after one warm-up call (which also
   compiles), the paths interleaved round-robin so that a change of machine load hits
   all paths alike; speed-up over eager fp32; GFLOP/s from
   :func:`saunet.models.profile.forward_flops`; fraction of the peak of the path's compute
   dtype;
3. accuracy guard: probability maps of the DRIVE test images (padded to 592x592, like the
   authors) scored with :func:`saunet.evaluate.evaluate_maps` (``fov`` protocol, the
   weights' threshold, 0.5 when they carry none); a path whose pooled AUC differs from eager
   fp32 by more than 0.0005 or whose F1 differs by more than 0.002 is "not eligible as
   default". Skipped (with a message) for random weights;
4. folder throughput: the DRIVE test images through :func:`saunet.segment.segment_files`
   (decode, FOV estimate, scale, tiled predict, write three PNGs), after one warm-up call
   at the tile shape; the predictor's own time inside the run gives the overhead ratio, and
   the time of decoding, FOV estimation, overlay and PNG writing is reported per stage. The
   recommended path runs a second time with a PNG writer at zlib level 1 instead of the
   default 6 (:func:`write_png_level1`, a proposal: ``saunet segment`` does not do this);
5. peak RSS of segmenting a 3504x2336 photograph at scale 1 (tiles 1024) in a fresh
   process, measured by ``benchmarks/bench_memory.py``'s child wrapper
   (``getrusage(RUSAGE_CHILDREN)``) with its synthetic photograph;
6. for the recommended paths, latency of DRIVE's tile (584x568) against the same tile with
   its width padded to 16 (584x576).

Two paths are recommended: the fastest (592x592 median) eligible one, and the fastest
eligible one whose first call takes under :data:`WARMUP_S` (no compilation, for runs on a
few images). Throughput and memory are measured for the baseline, ``cl-bf16`` (the current
default) and both. ``--quick``: 3 repeats, 3
test images, 3 folder images, RSS of the recommended path only. Timings are only meaningful
on an otherwise idle machine; the load average at start and end is printed with them.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import datetime
import importlib.util
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from saunet.tiling import Predictor

REPO = Path(__file__).resolve().parents[1]
SIZES = ((592, 592), (1008, 1008))
GUARD_PAD = (592, 592)
MAX_DAUC, MAX_DF1 = 0.0005, 0.002
BASELINE = "eager-fp32"
#: DRIVE's tile in ``saunet segment`` (584x565 padded to multiples of 8) and the same with
#: its width padded to a multiple of 16: widths whose eighth is prime (568 = 8 * 71, 584,
#: 632) run 25-45% slower on this CPU, in eager and compiled bf16 alike.
ALIGN_SHAPES = ((584, 568), (584, 576))
#: A path whose first call takes longer than this (compilation) is not "instant".
WARMUP_S = 1.0


# --------------------------------------------------------------------------- paths


@dataclass
class Context:
    """What the path builders need: the fp32 model, its metadata and a scratch folder."""

    model: torch.nn.Module
    meta: dict[str, Any]
    workdir: Path
    threads: int
    data_root: Path | None
    n_calib: int = 20


@dataclass(frozen=True)
class PathSpec:
    """One backend: name, compute dtype (for the peak fraction) and its builder."""

    name: str
    dtype: str
    description: str
    build: Callable[[Context], Predictor]


def _torch_pred(
    ctx: Context, *, fold: bool = False, bf16: bool = False, cl: bool = True
) -> Predictor:
    from saunet.fast import fold_batchnorm
    from saunet.segmenter import TorchPredictor

    model = fold_batchnorm(ctx.model) if fold else copy.deepcopy(ctx.model)
    amp = torch.bfloat16 if bf16 else None
    return TorchPredictor(model, torch.device("cpu"), amp, channels_last=cl)


def _compiled(ctx: Context, *, bf16: bool, dynamic: bool = False) -> Predictor:
    """``torch.compile`` with inductor freezing; static shapes recompile per input shape."""
    import torch._inductor.config as inductor_config

    inductor_config.freezing = True  # constant-fold weights, fold BN, prepack for oneDNN
    torch._dynamo.config.recompile_limit = 64  # static paths see a few shapes each
    pred = _torch_pred(ctx, bf16=bf16)
    pred.model = torch.compile(pred.model, dynamic=dynamic)  # type: ignore[attr-defined]
    return pred


class JitFrozenPredictor:
    """``torch.jit.trace`` + ``torch.jit.freeze`` of the BN-folded channels-last model, per shape."""

    def __init__(self, ctx: Context) -> None:
        from saunet.fast import fold_batchnorm

        self.model = fold_batchnorm(ctx.model).to(memory_format=torch.channels_last)
        self.traced: dict[tuple[int, ...], torch.jit.ScriptModule] = {}

    @torch.inference_mode()
    def __call__(self, x: np.ndarray) -> np.ndarray:
        t = torch.from_numpy(x).contiguous(memory_format=torch.channels_last)
        fn = self.traced.get(t.shape)
        if fn is None:
            with warnings.catch_warnings(), torch.no_grad():
                warnings.simplefilter("ignore")
                fn = torch.jit.freeze(torch.jit.trace(self.model, t))
            self.traced[t.shape] = fn
        return torch.sigmoid(fn(t))[:, 0].numpy()


def _onnx_fp32_file(ctx: Context) -> Path:
    from saunet.export import export_onnx

    path = ctx.workdir / "fp32.onnx"
    if not path.is_file():
        export_onnx(copy.deepcopy(ctx.model), path, ctx.meta)
    return path


def _ort(ctx: Context, path: Path) -> Predictor:
    """:class:`saunet.export.OnnxPredictor` with a session limited to ``ctx.threads`` threads."""
    import onnxruntime as ort

    from saunet.export import OnnxPredictor

    pred = OnnxPredictor(path, device="cpu")
    opts = ort.SessionOptions()
    opts.intra_op_num_threads, opts.inter_op_num_threads = ctx.threads, 1
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    pred.session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    return pred


def _calibration_images(ctx: Context) -> list[np.ndarray]:
    """DRIVE *training* images, padded to 592x592, as ``(1, 3, 592, 592)`` float32."""
    from saunet.data.datasets import load_dataset

    if ctx.data_root is None:
        raise RuntimeError("no DRIVE data root for int8 calibration (--data-root)")
    samples = load_dataset("drive", ctx.data_root, "train")[: ctx.n_calib]
    return [pad_image(s["image"], GUARD_PAD)[0] for s in samples]


def _fp32_nodes(model_path: Path) -> list[str]:
    """Nodes kept in fp32 by the careful int8 path: first conv, head, spatial attention.

    The attention branch is ``ReduceMean``/``ReduceMax`` -> ``Concat`` -> 7x7 ``Conv`` ->
    ``Sigmoid`` -> ``Mul`` (the gate); nodes are in topological order in an ONNX graph.
    """
    import onnx

    g = onnx.load(str(model_path)).graph
    inputs, outputs = {i.name for i in g.input}, {o.name for o in g.output}
    producer = {o: n for n in g.node for o in n.output}
    keep = [n.name for n in g.node if inputs & set(n.input)]  # the 3-channel input conv
    for n in g.node:  # head: the conv feeding the output sigmoid
        if outputs & set(n.output):
            keep += [n.name, *(producer[i].name for i in n.input if i in producer)]
    attn: set[str] = set()
    for n in g.node:
        if n.op_type in ("ReduceMean", "ReduceMax") or (
            attn & set(n.input) and n.op_type in ("Concat", "Conv", "Sigmoid", "Mul")
        ):
            keep.append(n.name)
            if n.op_type != "Mul":
                attn |= set(n.output)
    return sorted(set(keep))


def _int8(ctx: Context, careful: bool) -> Predictor:
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    name = "int8-careful.onnx" if careful else "int8-naive.onnx"
    out = ctx.workdir / name
    if not out.is_file():
        pre = ctx.workdir / "fp32-pre.onnx"
        if not pre.is_file():
            quant_pre_process(str(_onnx_fp32_file(ctx)), str(pre), skip_symbolic_shape=True)
        images = _calibration_images(ctx)

        class Reader(CalibrationDataReader):
            def __init__(self) -> None:
                self.it = iter({"image": x} for x in images)

            def get_next(self) -> dict[str, np.ndarray] | None:
                return next(self.it, None)

        kw: dict[str, Any] = dict(
            quant_format=QuantFormat.QDQ,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            per_channel=careful,
            calibrate_method=CalibrationMethod.MinMax,
        )
        if careful:
            kw.update(
                nodes_to_exclude=_fp32_nodes(pre),
                calibrate_method=CalibrationMethod.Percentile,
                extra_options={"CalibPercentile": 99.999},
            )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            quantize_static(str(pre), str(out), Reader(), **kw)
    return _ort(ctx, out)


PATHS: dict[str, PathSpec] = {
    p.name: p
    for p in [
        PathSpec(BASELINE, "fp32", "PyTorch eager, contiguous", lambda c: _torch_pred(c, cl=False)),
        PathSpec("cl-fp32", "fp32", "channels-last", lambda c: _torch_pred(c)),
        PathSpec(
            "cl-bf16",
            "bf16",
            "channels-last, bf16 autocast (segment's CPU default)",
            lambda c: _torch_pred(c, bf16=True),
        ),
        PathSpec(
            "fold-cl-fp32", "fp32", "BN folded, channels-last", lambda c: _torch_pred(c, fold=True)
        ),
        PathSpec(
            "fold-cl-bf16",
            "bf16",
            "BN folded, channels-last, bf16 autocast",
            lambda c: _torch_pred(c, fold=True, bf16=True),
        ),
        PathSpec(
            "jit-freeze-fp32",
            "fp32",
            "BN folded, jit.trace + jit.freeze, channels-last",
            JitFrozenPredictor,
        ),
        PathSpec(
            "compile-fp32",
            "fp32",
            "torch.compile (inductor, freezing), channels-last",
            lambda c: _compiled(c, bf16=False),
        ),
        PathSpec(
            "compile-bf16",
            "bf16",
            "torch.compile (inductor, freezing), bf16 autocast",
            lambda c: _compiled(c, bf16=True),
        ),
        PathSpec(
            "compile-dyn-bf16",
            "bf16",
            "torch.compile (inductor, freezing, dynamic shapes: one compile), bf16 autocast",
            lambda c: _compiled(c, bf16=True, dynamic=True),
        ),
        PathSpec(
            "ort-fp32",
            "fp32",
            "onnxruntime, saunet.export graph",
            lambda c: _ort(c, _onnx_fp32_file(c)),
        ),
        PathSpec(
            "ort-int8-naive",
            "int8",
            "onnxruntime static QDQ, per-tensor, MinMax, all ops",
            lambda c: _int8(c, careful=False),
        ),
        PathSpec(
            "ort-int8",
            "int8",
            "onnxruntime static QDQ, per-channel, percentile, first conv/head/attention fp32",
            lambda c: _int8(c, careful=True),
        ),
    ]
}


# --------------------------------------------------------------------------- helpers


def pad_image(image: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, tuple[int, ...]]:
    """``(1, 3, H', W')`` float32 with ``image`` centred (convention of saunet.inference)."""
    h, w = image.shape[:2]
    top, left = (size[0] - h) // 2, (size[1] - w) // 2
    x = np.zeros((1, 3, *size), dtype=np.float32)
    x[0, :, top : top + h, left : left + w] = image.transpose(2, 0, 1)
    return x, (top, left, h, w)


def peak_gflops(threads: int, n: int = 2048, repeats: int = 40) -> dict[str, float]:
    """Best ``torch.mm`` rate (GFLOP/s) for fp32 and bf16 (and ``torch._int_mm`` int8).

    The best of ``repeats`` back-to-back products (at most ~2 s per dtype): the AMX bf16
    rate of this CPU ramps up over the first ~8 products (500 -> 2100 GFLOP/s), so a
    best-of-5 underestimates it by ~3x.
    """
    torch.set_num_threads(threads)
    out: dict[str, float] = {}
    a = torch.rand(n, n)
    b = torch.rand(n, n)
    cases: dict[str, tuple[Callable[..., torch.Tensor], torch.Tensor, torch.Tensor]] = {
        "fp32": (torch.mm, a, b),
        "bf16": (torch.mm, a.bfloat16(), b.bfloat16()),
        "int8": (torch._int_mm, (a * 100).to(torch.int8), (b * 100).to(torch.int8)),
    }
    for name, (fn, x, y) in cases.items():
        try:
            times: list[float] = []
            while len(times) < repeats and sum(times) < 2.0:
                times.append(_timed(lambda fn=fn, x=x, y=y: fn(x, y)))
            out[name] = 2 * n**3 / min(times) / 1e9
        except (RuntimeError, AttributeError):  # int8 mm not available on this build
            pass
    return out


def _timed(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def build_paths(ctx: Context, names: list[str]) -> tuple[dict[str, Predictor], dict[str, dict]]:
    """Build every path; a failure is recorded, not raised."""
    preds: dict[str, Predictor] = {}
    info: dict[str, dict] = {}
    for name in names:
        spec = PATHS[name]
        info[name] = {"dtype": spec.dtype, "description": spec.description}
        t0 = time.perf_counter()
        try:
            preds[name] = spec.build(ctx)
        except Exception as exc:  # report the path as failed and go on
            info[name]["error"] = f"{type(exc).__name__}: {exc}"[:300]
            print(f"  {name}: build failed: {info[name]['error']}", flush=True)
            continue
        info[name]["build_s"] = time.perf_counter() - t0
        print(f"  {name}: built in {info[name]['build_s']:.1f} s", flush=True)
    return preds, info


def measure_latency(preds: dict[str, Predictor], info: dict[str, dict], repeats: int) -> None:
    """Median latency per path and size, paths interleaved round-robin (into ``info``)."""
    rng = np.random.default_rng(0)
    for size in SIZES:
        key = f"{size[0]}x{size[1]}"
        x = rng.random((1, 3, *size), dtype=np.float32)
        times: dict[str, list[float]] = {}
        for name, pred in list(preds.items()):  # warm-up; compiles for this shape
            try:
                info[name].setdefault("first_call_s", {})[key] = _timed(lambda p=pred, x=x: p(x))
                times[name] = []
            except Exception as exc:
                info[name]["error"] = f"{key}: {type(exc).__name__}: {exc}"[:300]
                print(f"  {name}: failed at {key}: {info[name]['error']}", flush=True)
                del preds[name]
        for _ in range(repeats):
            for name in times:
                times[name].append(_timed(lambda p=preds[name], x=x: p(x)))
        for name, ts in times.items():
            info[name].setdefault("latency_ms", {})[key] = {
                "median": 1000 * statistics.median(ts),
                "min": 1000 * min(ts),
                "all": [round(1000 * t, 2) for t in ts],
            }
            print(f"  {key} {name}: {1000 * statistics.median(ts):.0f} ms", flush=True)


def accuracy_guard(
    preds: dict[str, Predictor], info: dict[str, dict], samples: list[dict], threshold: float
) -> None:
    """Pooled FOV AUC / F1 of each path, deltas vs the baseline, eligibility (into ``info``)."""
    from saunet.evaluate import evaluate_maps

    base_maps: list[np.ndarray] | None = None
    base: dict[str, float] = {}
    for name in [BASELINE, *[n for n in preds if n != BASELINE]]:
        if name not in preds:
            continue
        maps = []
        try:
            for s in samples:
                x, (top, left, h, w) = pad_image(s["image"], GUARD_PAD)
                maps.append(preds[name](x)[0, top : top + h, left : left + w].copy())
        except Exception as exc:  # a path failing here is reported, not fatal
            info[name]["guard"] = {"error": f"{type(exc).__name__}: {exc}"[:300]}
            continue
        doc = evaluate_maps(maps, samples, protocols=("fov",), threshold=threshold, curves=False)
        pooled = doc["fov"]["pooled"]
        g: dict[str, Any] = {"auc": pooled["auc"], "f1": pooled["f1"], "n_images": len(samples)}
        if base_maps is None:
            base_maps, base = maps, g
        else:
            g["max_abs_dprob_fov"] = max(
                float(np.abs(m - b)[s["fov"]].max())
                for m, b, s in zip(maps, base_maps, samples, strict=True)
            )
        g["d_auc"], g["d_f1"] = g["auc"] - base["auc"], g["f1"] - base["f1"]
        g["eligible"] = abs(g["d_auc"]) <= MAX_DAUC and abs(g["d_f1"]) <= MAX_DF1
        info[name]["guard"] = g
        print(
            f"  guard {name}: AUC {g['auc']:.5f} ({g['d_auc']:+.5f}) F1 {g['f1']:.5f} "
            f"({g['d_f1']:+.5f}) {'eligible' if g['eligible'] else 'NOT eligible'}",
            flush=True,
        )


class Timed:
    """Wraps a callable and sums the wall time spent in it."""

    def __init__(self, fn: Callable[..., Any]) -> None:
        self.fn, self.seconds = fn, 0.0

    def __call__(self, *args: Any, **kw: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return self.fn(*args, **kw)
        finally:
            self.seconds += time.perf_counter() - t0


#: Stages of ``segment_files`` timed by wrapping the names its modules look up.
STAGES = {
    "decode": ("saunet.segment", "read_image"),
    "fov": ("saunet.segmenter", "estimate_fov"),
    "overlay": ("saunet.segment", "overlay"),
    "write_png": ("saunet.segment", "write_png"),
}


@contextlib.contextmanager
def stage_timers() -> Iterator[dict[str, Timed]]:
    """Temporarily wrap the :data:`STAGES` functions with :class:`Timed` (benchmark only)."""
    saved, timers = [], {}
    for stage, (module, attr) in STAGES.items():
        mod = importlib.import_module(module)
        fn = getattr(mod, attr, None)
        if fn is None:  # the segment code changed; that stage is then counted as "other"
            continue
        saved.append((mod, attr, fn))
        timers[stage] = Timed(fn)
        setattr(mod, attr, timers[stage])
    try:
        yield timers
    finally:
        for mod, attr, fn in saved:
            setattr(mod, attr, fn)


def folder_throughput(
    pred: Predictor, meta: dict[str, Any], folder: Path, out: Path
) -> dict[str, Any]:
    """Segment every image of ``folder`` end to end; per-image time and where it goes."""
    from saunet.data.io import read_image
    from saunet.segment import expand_inputs, segment_files
    from saunet.segmenter import Segmenter

    sources = expand_inputs([str(folder)])
    first = read_image(sources[0].path)  # warm-up (and compile) at the DRIVE tile shape
    h8, w8 = (-(-s // 8) * 8 for s in first.shape[:2])
    warm = _timed(lambda: pred(np.zeros((1, 3, h8, w8), np.float32)))
    timed = Timed(pred)
    seg = Segmenter(timed, dict(meta), divisor=8, name="bench")
    with stage_timers() as timers:
        t0 = time.perf_counter()
        report = segment_files(seg, sources, out, overwrite=True, progress=False)
        total = time.perf_counter() - t0
    n = len(report.rows)
    stages = {"predict": timed.seconds, **{k: t.seconds for k, t in timers.items()}}
    stages["other"] = total - sum(stages.values())
    return {
        "images": n,
        "failed": len(report.failed),
        "warmup_s": warm,
        "total_s": total,
        "ms_per_image": 1000 * total / n,
        "predict_ms_per_image": 1000 * timed.seconds / n,
        "overhead_ratio": total / timed.seconds if timed.seconds else None,
        "stage_ms_per_image": {k: 1000 * v / n for k, v in stages.items()},
        "scales": sorted({r.get("scale", "?") for r in report.rows}),
    }


def _bench_memory() -> Any:
    spec = importlib.util.spec_from_file_location(
        "bench_memory", REPO / "benchmarks" / "bench_memory.py"
    )
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def peak_rss(path: str, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    """Peak RSS of a fresh process segmenting a 3504x2336 photograph at scale 1 with ``path``."""
    bm = _bench_memory()
    photo = workdir / "hrf_size.jpg"
    if not photo.is_file():
        bm.synthetic_photo(photo)
    cmd = [
        sys.executable,
        __file__,
        "--segment-child",
        str(photo),
        str(workdir / f"rss-{path}"),
        "--paths",
        path,
        "--workdir",
        str(workdir),
        "--threads",
        str(args.threads),
    ]
    if args.weights:
        cmd += ["--weights", args.weights]
    res = subprocess.run(
        [sys.executable, bm.__file__, "--child", *cmd], capture_output=True, text=True
    )
    doc = json.loads(res.stdout.strip().splitlines()[-1])
    if doc["rc"] != 0:
        print(doc["stderr"], file=sys.stderr)
    return {
        "peak_mb": doc["peak_mb"],
        "seconds": doc["seconds"],
        "rc": doc["rc"],
        "size": [bm.W, bm.H],
        "scale": 1,
        "tile": 1024,
    }


def segment_child(args: argparse.Namespace) -> int:
    """``--segment-child PHOTO OUT``: segment one photograph at scale 1 with one path."""
    from saunet.segment import expand_inputs, segment_files
    from saunet.segmenter import Segmenter

    torch.set_num_threads(args.threads)
    model, meta, _ = load_weights(args.weights)
    ctx = Context(model, meta, Path(args.workdir), args.threads, data_root(args.data_root))
    pred = PATHS[args.paths[0]].build(ctx)
    photo, out = args.segment_child
    seg = Segmenter(pred, meta, divisor=8, name="bench")
    report = segment_files(
        seg, expand_inputs([photo]), out, scale=1.0, overwrite=True, progress=False
    )
    return 1 if report.failed else 0


# --------------------------------------------------------------------------- setup


def load_weights(spec: str | None) -> tuple[torch.nn.Module, dict[str, Any], bool]:
    """``(model, meta, trained)``: the checkpoint, or a random SA-UNet (seed 0) when None."""
    from saunet.checkpoint import load_model
    from saunet.models import build_model

    if spec:
        model, meta = load_model(spec)
        return model.eval(), meta, True
    torch.manual_seed(0)
    model = build_model("sa-unet").eval()
    meta = {"model_config": model.config.to_dict(), "data": {"dataset": "drive"}}
    return model, meta, False


def default_weights() -> str | None:
    """Shipped DRIVE weights when present, else None (random model)."""
    from saunet.checkpoint import resolve_checkpoint

    try:
        resolve_checkpoint("drive")
    except FileNotFoundError:
        return None
    return "drive"


def data_root(spec: str | None) -> Path | None:
    """``--data-root``, ``$SAUNET_DATA`` or ``../shared/data`` next to the repository."""
    for cand in (spec, os.environ.get("SAUNET_DATA"), REPO.parent / "shared" / "data"):
        if cand and (Path(cand) / "DRIVE").is_dir():
            return Path(cand)
    return None


def cpu_model() -> str:
    from saunet.training.hardware import describe_hardware

    return str(describe_hardware(torch.device("cpu"))["cpu"])


# --------------------------------------------------------------------------- report


def _fmt(v: float | None, spec: str) -> str:
    return "-" if v is None else format(v, spec)


def render(doc: dict[str, Any]) -> str:
    """The markdown tables of a result document."""
    peaks, flops, paths = doc["peak_gflops"], doc["gflop"], doc["paths"]
    base = paths.get(BASELINE, {}).get("latency_ms", {})
    lines = [
        f"{doc['date']}, {doc['cpu']}, {doc['threads']} threads, torch {doc['torch']}, "
        f"onnxruntime {doc['onnxruntime']}, weights {doc['weights']}; load average "
        f"{doc['loadavg_start']:.2f} at start, {doc['loadavg_end']:.2f} at end",
        "",
        "matmul peak (2048x2048, best of up to 40): "
        + ", ".join(f"{k} {v:.0f} GFLOP/s" for k, v in peaks.items())
        + "; forward pass: "
        + ", ".join(f"{k} {v:.1f} GFLOP" for k, v in flops.items()),
        "",
    ]
    head = "| path | dtype |"
    rule = "|---|---|"
    for key in flops:
        head += f" {key} ms | speed-up | GFLOP/s | % peak |"
        rule += "---:|---:|---:|---:|"
    head += " first call s | ΔAUC | ΔF1 | max abs Δp | default-eligible |"
    rule += "---:|---:|---:|---:|---|"
    lines += [head, rule]
    for name, p in paths.items():
        row = f"| {name} | {p['dtype']} |"
        for key, gf in flops.items():
            lat = p.get("latency_ms", {}).get(key, {}).get("median")
            b = base.get(key, {}).get("median")
            peak = peaks.get(p["dtype"])
            gfs = gf / lat * 1000 if lat else None
            row += (
                f" {_fmt(lat, '.0f')} | {_fmt(b / lat if b and lat else None, '.2f')}x |"
                f" {_fmt(gfs, '.0f')} | {_fmt(100 * gfs / peak if gfs and peak else None, '.0f')} |"
            )
        g = p.get("guard", {})
        first = p.get("first_call_s", {}).get(next(iter(flops)), None)
        elig = ("yes" if g.get("eligible") else "**no**") if g else "not checked"
        if "error" in p:
            elig = f"failed: {p['error'][:80]}"
        row += (
            f" {_fmt(first, '.1f')} | {_fmt(g.get('d_auc'), '+.5f')} |"
            f" {_fmt(g.get('d_f1'), '+.4f')} | {_fmt(g.get('max_abs_dprob_fov'), '.3f')} | {elig} |"
        )
        lines.append(row)
    if doc.get("guard_note"):
        lines += ["", doc["guard_note"]]
    base_g = paths.get(BASELINE, {}).get("guard")
    if base_g:
        lines += [
            "",
            f"eager fp32: FOV AUC {base_g['auc']:.5f}, F1 {base_g['f1']:.5f} at threshold "
            f"{doc['threshold']:.3g} on {base_g['n_images']} DRIVE test images",
        ]
    if doc.get("throughput"):
        lines += [
            "",
            "| folder (segment_files) | images | e2e ms/img | predictor ms/img | "
            "e2e / predictor | warm-up s | scale | ms/img by stage |",
            "|---|---:|---:|---:|---:|---:|---|---|",
        ]
        for name, t in doc["throughput"].items():
            if "error" in t:
                lines.append(f"| {name} | failed: {t['error'][:100]} |||||||")
                continue
            stages = ", ".join(f"{k} {v:.0f}" for k, v in t["stage_ms_per_image"].items())
            lines.append(
                f"| {name} | {t['images']} | {t['ms_per_image']:.0f} | "
                f"{t['predict_ms_per_image']:.0f} | {_fmt(t['overhead_ratio'], '.2f')} | "
                f"{t['warmup_s']:.1f} | {', '.join(t['scales'])} | {stages} |"
            )
    if doc.get("rss"):
        lines += [
            "",
            "| 3504x2336, scale 1, tile 1024 | peak RSS MB | wall s | exit |",
            "|---|---:|---:|---:|",
        ]
        for name, r in doc["rss"].items():
            lines.append(f"| {name} | {r['peak_mb']:.0f} | {r['seconds']:.1f} | {r['rc']} |")
    for name, t in doc.get("tile_alignment_ms", {}).items():
        lines += ["", f"{name}, tile shape: " + ", ".join(f"{k} {v:.0f} ms" for k, v in t.items())]
    if doc.get("targets"):
        lines += [
            "",
            "targets (recommended path): "
            + ", ".join(
                f"{k} {'-' if v is None else ('met' if v else 'NOT met')}"
                for k, v in doc["targets"].items()
            ),
        ]
    rec = doc.get("recommended") or "none eligible"
    if doc.get("guard_note"):
        rec += " (fastest; accuracy not checked)"
    lines += [
        "",
        f"fastest eligible path: {rec}; without a compile step: "
        f"{doc.get('recommended_no_warmup') or 'none'}",
    ]
    return "\n".join(lines)


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--weights",
        default=None,
        help="drive|chase|checkpoint|run dir (default: "
        "shipped drive weights, else a random model: timing only)",
    )
    ap.add_argument("--quick", action="store_true", help="smoke run: 3 repeats, 3 images")
    ap.add_argument(
        "--paths",
        nargs="+",
        default=list(PATHS),
        choices=list(PATHS),
        metavar="PATH",
        help=f"subset of: {', '.join(PATHS)}",
    )
    ap.add_argument("--repeats", type=int, default=None, help="timed calls per size (default 7)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--data-root", default=None, help="default: $SAUNET_DATA or ../shared/data")
    ap.add_argument("--no-rss", action="store_true", help="skip the 3504x2336 memory runs")
    ap.add_argument("--no-throughput", action="store_true", help="skip the folder runs")
    ap.add_argument("--json-out", type=Path, default=None, help="also write the results here")
    ap.add_argument("--workdir", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--segment-child", nargs=2, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.segment_child is None and args.weights is None:
        args.weights = default_weights()
    if args.segment_child is None and BASELINE not in args.paths:
        args.paths.insert(0, BASELINE)
    return args


def environment(args: argparse.Namespace, meta: dict[str, Any], repeats: int) -> dict[str, Any]:
    """The header of the result document."""
    import onnxruntime

    from saunet.segmenter import weights_threshold

    return {
        "command": " ".join(["python benchmarks/bench_inference.py", *sys.argv[1:]]),
        "date": datetime.date.today().isoformat(),
        "cpu": cpu_model(),
        "threads": args.threads,
        "torch": torch.__version__,
        "onnxruntime": onnxruntime.__version__,
        "weights": args.weights or "random (seed 0)",
        "quick": args.quick,
        "repeats": repeats,
        "loadavg_start": os.getloadavg()[0],
        "threshold": weights_threshold(meta),
    }


def tile_alignment(pred: Predictor, repeats: int) -> dict[str, float]:
    """Median ms of the DRIVE tile (584x568, width padded to 8) vs its width padded to 16."""
    rng = np.random.default_rng(1)
    xs = {f"{h}x{w}": rng.random((1, 3, h, w), dtype=np.float32) for h, w in ALIGN_SHAPES}
    times: dict[str, list[float]] = {k: [] for k in xs}
    for x in xs.values():
        pred(x)
    for _ in range(max(repeats, 5)):
        for k, x in xs.items():
            times[k].append(_timed(lambda x=x: pred(x)))
    return {k: 1000 * statistics.median(v) for k, v in times.items()}


def write_png_level1(path: str | os.PathLike, array: np.ndarray) -> None:
    """Proposed PNG writer: conversions of ``saunet.data.io.write_png``, zlib level 1."""
    from PIL import Image

    a = np.asarray(array)
    if a.dtype == np.bool_:
        a = a.astype(np.uint8) * 255
    elif a.dtype != np.uint8:
        a = np.rint(np.clip(a, 0.0, 1.0) * 255.0).astype(np.uint8)
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    Image.fromarray(a).save(tmp, format="PNG", compress_level=1)
    os.replace(tmp, path)


def run_throughput(
    preds: dict[str, Predictor],
    names: list[str],
    png_names: list[str],
    meta: dict,
    folder: Path,
    workdir: Path,
) -> dict[str, Any]:
    """Folder throughput of ``names``, and of ``png_names`` with the proposed PNG writer."""
    out: dict[str, Any] = {}
    runs = [(n, n, False) for n in names] + [(f"{n} + PNG level 1", n, True) for n in png_names]
    for label, name, fast_png in runs:
        print(f"folder throughput {label}", flush=True)
        seg_mod = importlib.import_module("saunet.segment")
        original = seg_mod.write_png
        try:
            if fast_png:
                seg_mod.write_png = write_png_level1
            out[label] = folder_throughput(preds[name], meta, folder, workdir / f"seg-{len(out)}")
        except Exception as exc:
            out[label] = {"error": f"{type(exc).__name__}: {exc}"[:300]}
        finally:
            seg_mod.write_png = original
    return out


def check_targets(doc: dict[str, Any]) -> dict[str, Any]:
    """Issue 8's targets for the recommended path (None where not measured)."""
    rec = doc.get("recommended")
    t = doc.get("throughput", {}).get(rec or "", {})
    r = doc.get("rss", {}).get(rec or "", {})
    return {
        "e2e_ms_per_image<=60": None if "ms_per_image" not in t else t["ms_per_image"] <= 60,
        "e2e/predictor<=1.3": None if not t.get("overhead_ratio") else t["overhead_ratio"] <= 1.3,
        "peak_rss_mb<=1500": None if "peak_mb" not in r else r["peak_mb"] <= 1500,
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.segment_child:
        return segment_child(args)
    from saunet.models.profile import forward_flops

    torch.set_num_threads(args.threads)
    repeats = args.repeats or (3 if args.quick else 7)
    n_images = 3 if args.quick else 20
    root = data_root(args.data_root)
    model, meta, trained = load_weights(args.weights)
    doc = environment(args, meta, repeats)
    print(f"{doc['cpu']}, load average {doc['loadavg_start']:.2f}; matmul peak", flush=True)
    doc["peak_gflops"] = peak_gflops(args.threads)
    doc["gflop"] = {f"{h}x{w}": forward_flops(copy.deepcopy(model), (h, w)) / 1e9 for h, w in SIZES}
    with tempfile.TemporaryDirectory(prefix="bench-inference-") as tmp:
        workdir = Path(tmp)
        ctx = Context(model, meta, workdir, args.threads, root, n_calib=4 if args.quick else 20)
        print("building paths", flush=True)
        preds, info = build_paths(ctx, args.paths)
        doc["paths"] = info
        print(f"latency, {repeats} repeats", flush=True)
        measure_latency(preds, info, repeats)
        if not trained:
            doc["guard_note"] = "accuracy guard skipped: random weights (pass --weights)"
        elif root is None:
            doc["guard_note"] = "accuracy guard skipped: no DRIVE data (--data-root)"
        else:
            from saunet.data.datasets import load_dataset

            samples = load_dataset("drive", root, "test")[:n_images]
            print(f"accuracy guard on {len(samples)} DRIVE test images", flush=True)
            accuracy_guard(preds, info, samples, doc["threshold"])
        eligible = [n for n in preds if info[n].get("guard", {}).get("eligible", not trained)]
        by_speed = sorted(eligible, key=lambda n: info[n]["latency_ms"]["592x592"]["median"])
        instant = [n for n in by_speed if info[n]["first_call_s"]["592x592"] < WARMUP_S]
        doc["recommended"] = by_speed[0] if by_speed else None
        doc["recommended_no_warmup"] = instant[0] if instant else None
        picks = [*instant[:1], *by_speed[:1]]
        names = [n for n in dict.fromkeys([BASELINE, "cl-bf16", *picks]) if n in preds]
        doc["tile_alignment_ms"] = {}
        for name in dict.fromkeys(picks):
            print(f"tile alignment {name}", flush=True)
            doc["tile_alignment_ms"][name] = tile_alignment(preds[name], repeats)
        if not args.no_throughput and root is not None:
            folder = root / "DRIVE" / "test" / "images"
            if args.quick:
                folder = workdir / "images"
                folder.mkdir()
                for f in sorted((root / "DRIVE" / "test" / "images").iterdir())[:n_images]:
                    shutil.copy(f, folder / f.name)
            doc["throughput"] = run_throughput(
                preds, names, list(dict.fromkeys(picks)), meta, folder, workdir
            )
        if not args.no_rss:
            doc["rss"] = {}
            for name in names[-1:] if args.quick else names:
                print(f"peak RSS {name}", flush=True)
                doc["rss"][name] = peak_rss(name, args, workdir)
    doc["loadavg_end"] = os.getloadavg()[0]
    doc["targets"] = check_targets(doc)
    doc["table"] = render(doc)
    print("\n" + doc["table"])
    if args.json_out:
        from saunet.checkpoint import atomic_write_text

        atomic_write_text(args.json_out, json.dumps(doc, indent=2) + "\n")
        print(f"wrote {args.json_out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
