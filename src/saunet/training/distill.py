"""Self-distillation: train on a mix of the labels and a teacher's flip-averaged maps.

Beyond the paper. The manual labels are hard 0/1 maps whose one-pixel capillaries and vessel
borders are partly a matter of the annotator's judgement; a trained network's
probabilities, averaged over the four flips of test-time augmentation, rank those pixels
better than one forward pass of the same network does (on DRIVE the shipped weights gain
0.0006 test FOV AUC from flips). With ``train.distill_from`` the training target becomes

    target = (1 - distill_weight) * label + distill_weight * teacher

so the student learns the ensemble's ranking in one forward pass (a "born-again" network:
teacher and student have the same architecture). The teacher maps are computed once per run
on the padded training images, stored as uint8 beside them and cropped, flipped and rotated
with them like any mask. Validation and the test evaluation still score against the labels.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from saunet.errors import UserError
from saunet.inference.predictor import predict_batch
from saunet.models.checkpoint import load_model
from saunet.training.batches import ImageSet
from saunet.utils.files import file_sha256

log = logging.getLogger(__name__)


def mix_targets(label: torch.Tensor, teacher: torch.Tensor | None, weight: float) -> torch.Tensor:
    """``(1 - weight) * label + weight * teacher`` (any matching shapes, values in [0, 1]);
    ``label`` itself when there is no teacher or ``weight`` is 0."""
    if teacher is None or weight == 0:
        return label
    return torch.lerp(label, teacher.to(label.dtype), weight)


@torch.no_grad()
def teacher_maps(
    model: torch.nn.Module,
    images: ImageSet,
    device: torch.device,
    amp: torch.dtype | None = None,
    progress: bool = True,
) -> torch.Tensor:
    """Flip-averaged vessel probabilities of every image of ``images``.

    Returns ``(N, 1, H, W)`` uint8 (probability x 255, rounded), on the CPU: the test-time
    augmentation of :func:`saunet.inference.predictor.predict_batch` (four flips), on the whole padded
    images, one at a time so the memory stays that of one batch of four.
    """

    out = torch.empty((len(images), 1, *images.size), dtype=torch.uint8)
    for i in tqdm(range(len(images)), desc="teacher maps", unit="img", disable=not progress):
        image = images.batch([i])["image"][0].permute(1, 2, 0).cpu().numpy()
        prob = predict_batch(model, [image], device=device, amp_dtype=amp, tta=True)[0]
        out[i, 0] = torch.from_numpy(prob).mul_(255).round_().clamp_(0, 255).to(torch.uint8)
    return out


def attach_teacher(
    spec: str,
    images: ImageSet,
    device: torch.device,
    amp: torch.dtype | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Compute ``spec``'s teacher maps for ``images`` and store them as ``images``'s
    ``soft`` tensor. Returns metadata naming the teacher (``spec``, file name, sha256).

    Raises:
        UserError: the teacher's weights cannot be found or read.
    """

    try:
        teacher, meta = load_model(spec, device)
    except (FileNotFoundError, ValueError, RuntimeError) as exc:
        first = str(exc).strip().splitlines()[0]
        raise UserError(f"train.distill_from {spec}: {first}") from exc
    log.info("teacher %s: flip-averaged maps of %d training images", spec, len(images))
    images.tensors["soft"] = teacher_maps(teacher, images, device, amp, progress).to(
        images.tensors["image"].device
    )
    path = Path(meta["path"])
    return {"spec": str(spec), "file": path.name, "sha256": file_sha256(path)}
