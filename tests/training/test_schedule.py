import pytest

from saunet.config import TrainConfig, load_config
from saunet.training.schedule import learning_rate


def test_paper_step_schedule_switches_after_epoch_100():
    cfg = load_config("configs/drive.yaml").train
    assert learning_rate(cfg, 0) == pytest.approx(1e-3)
    assert learning_rate(cfg, 99, 0.99) == pytest.approx(1e-3)  # the 100th epoch
    assert learning_rate(cfg, 100) == pytest.approx(1e-4)  # the 101st epoch
    assert learning_rate(cfg, 149) == pytest.approx(1e-4)


def test_cosine_schedule_warms_up_and_decays_to_floor():
    cfg = TrainConfig(epochs=10, lr=1e-3, schedule="cosine", warmup_epochs=1, min_lr_ratio=0.1)
    assert learning_rate(cfg, 0, 0.0) < 1e-5
    assert learning_rate(cfg, 1, 0.0) == pytest.approx(1e-3)
    assert learning_rate(cfg, 5, 0.5) < learning_rate(cfg, 3, 0.0)
    assert learning_rate(cfg, 9, 1.0) == pytest.approx(1e-4)


def test_unknown_schedule_is_an_error():
    with pytest.raises(ValueError, match="unknown schedule"):
        learning_rate(TrainConfig(schedule="poly"), 0)


def test_time_clock_follows_wall_time_budget():
    from saunet.training.loop import _current_lr

    cfg = TrainConfig(epochs=10, lr=1e-3, schedule="cosine", min_lr_ratio=0.0, clock="time",
                      max_minutes=10)  # fmt: skip
    assert _current_lr(cfg, 0, 0.0, 0.0) == pytest.approx(1e-3)
    assert _current_lr(cfg, 0, 0.0, 300.0) == pytest.approx(5e-4)  # half the budget
    assert _current_lr(cfg, 3, 0.0, 600.0) == pytest.approx(0.0, abs=1e-9)  # budget spent
    epochs = TrainConfig(epochs=10, lr=1e-3, schedule="cosine", min_lr_ratio=0.0)
    assert _current_lr(epochs, 5, 0.0, 1e6) == pytest.approx(5e-4)
