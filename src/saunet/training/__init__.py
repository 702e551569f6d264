"""Training: the paper's recipe (Sec. III-C) and faster CPU recipes, as configuration.

Split by job: :mod:`.hardware` (device, precision), :mod:`.schedule` (learning rate),
:mod:`.batches` (epoch batches from a dataset), :mod:`.state` (checkpoints and resume),
:mod:`.rundir` (the run folder: lock, log, what a resume restores after a kill),
:mod:`.curves` (training-curve figure), :mod:`.ema` (weight averaging), :mod:`.distill`
(teacher targets), :mod:`.interpolate` and :mod:`.soup` (weights from other runs' weights,
written as run directories by :mod:`.derived`), :mod:`.loop` (the loop itself).
"""

from saunet.training.loop import TrainingDiverged, train

__all__ = ["train", "TrainingDiverged"]
