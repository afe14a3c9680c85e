"""Training inside a budget: the batch size by data size, the planned schedule, max_steps, a time budget that
stops training early (in-process and through a whole build), and the progress lines."""
from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest

from conftest import run_cli
from toolkit.config import BuildConfig
from toolkit.datasets import Dataset
from toolkit.training import (CONSTANT_FRACTION, FINAL_LR_FRACTION, auto_batch_size, budget_learning_rate,
                              format_seconds, train)


def tiny_data(n: int = 96, seed: int = 0) -> Dataset:
    """Two classes of 8x8 images that a small CNN separates: bright left half or bright right half."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    x = rng.uniform(0, 0.3, (n, 8, 8, 1)).astype(np.float32)
    x[y == 0, :, :4] += 0.6
    x[y == 1, :, 4:] += 0.6
    return Dataset(name="tiny", labels=("left", "right"), x_train=x, y_train=y, x_val=x[:16], y_val=y[:16],
                   x_calib=x[:8], x_test=x[:16], y_test=y[:16])


def tiny_model():
    from models import build_model
    from toolkit.training import seed_everything

    seed_everything(0)
    return build_model("compact_cnn", (8, 8, 1), 2, width=0.25)


def test_batch_size_grows_with_the_data_set_and_keeps_digits_at_32():
    assert auto_batch_size(1222) == 32  # digits' training split
    assert auto_batch_size(16383) == 32 and auto_batch_size(16384) == 64
    assert auto_batch_size(51000) == 128  # MNIST's training split
    assert auto_batch_size(10_000_000) == 128


def test_budget_schedule_is_flat_then_falls_to_its_floor_at_the_end():
    lr = 3e-3
    rates = [budget_learning_rate(k / 1000, lr) for k in range(1001)]
    flat = int(1000 * CONSTANT_FRACTION)
    assert all(r == lr for r in rates[:flat + 1])
    assert all(a >= b for a, b in zip(rates, rates[1:])) and rates[flat + 1] < lr
    assert rates[-1] == pytest.approx(lr * FINAL_LR_FRACTION) and budget_learning_rate(1.5, lr) == rates[-1]


def test_max_steps_stops_at_exactly_that_many_optimizer_steps():
    model, data = tiny_model(), tiny_data()
    lines = []
    cfg = BuildConfig(epochs=50, batch_size=16, max_steps=15, time_budget="none")
    summary = train(model, data, cfg, progress=False, log=lines.append)
    assert int(model.optimizer.iterations.numpy()) == 15 == summary.steps
    assert summary.epochs == math.ceil(15 / 6) and summary.budget_by == "max_steps" and summary.reproducible
    # the schedule ends at the bottom of the cosine
    assert float(model.optimizer.learning_rate.numpy()) == pytest.approx(cfg.learning_rate * FINAL_LR_FRACTION)
    assert lines[0].startswith("train     epoch 1/3 (max_steps), step 6/15, ")
    assert "the learning rate followed max_steps 15 to its floor" in summary.note(cfg)


def test_tiny_time_budget_stops_training_early():
    model, data = tiny_model(), tiny_data()
    lines = []
    cfg = BuildConfig(epochs=100_000, batch_size=16, time_budget=0.5)
    summary = train(model, data, cfg, progress=False, log=lines.append)
    assert summary.stopped_by == "time_budget" and not summary.reproducible
    assert summary.epochs < 100_000 and summary.steps == int(model.optimizer.iterations.numpy())
    assert summary.seconds < 30  # stopped at the first step after 0.5 s (plus one validation), not at the epochs
    assert "time budget ran out" in summary.note(cfg)
    assert all(line.startswith("train     epoch ") for line in lines)


class FakeClock:
    """Stands in for the time module of toolkit.training: each reading advances by `step` seconds, and by
    `slow_step` after `slow_after` readings, so the budget's decisions do not depend on this machine's load."""

    def __init__(self, step: float, slow_after: int | None = None, slow_step: float = 0.0):
        self.now, self.calls = 0.0, 0
        self.step, self.slow_after, self.slow_step = step, slow_after, slow_step

    def perf_counter(self) -> float:
        self.calls += 1
        slow = self.slow_after is not None and self.calls > self.slow_after
        self.now += self.slow_step if slow else self.step
        return self.now


def test_time_budget_drives_the_schedule_when_the_epochs_do_not_fit(monkeypatch):
    """Steps that cannot all fit in the budget: after timing the first ones, the clock drives the learning
    rate, which reaches the bottom of its cosine as the budget runs out, where training ends."""
    import toolkit.training as training

    monkeypatch.setattr(training, "time", FakeClock(step=0.005))  # two readings a step: about 10 ms a step
    model, data = tiny_model(), tiny_data(n=512)
    lines = []
    cfg = BuildConfig(epochs=100_000, batch_size=16, time_budget="4s", patience=0)
    summary = train(model, data, cfg, progress=False, log=lines.append)
    assert summary.budget_by == "time_budget" and summary.stopped_by is None and not summary.reproducible
    assert 300 < summary.steps == int(model.optimizer.iterations.numpy()) < 400
    assert 3.9 < summary.seconds <= 4.1
    assert float(model.optimizer.learning_rate.numpy()) < 2 * FINAL_LR_FRACTION * cfg.learning_rate  # annealed
    assert lines[0].startswith("train     epoch 1/~") and "(time budget), step 32/~" in lines[0] and " left" in lines[0]
    assert f"step {summary.steps}/{summary.steps}, " in lines[-1] and " left" not in lines[-1]
    note = summary.note(cfg)
    assert "would not fit in the 4s time budget" in note
    assert f"--max-steps {summary.steps} --time-budget none" in note


def test_a_slower_machine_gets_fewer_steps_but_the_same_annealed_end(monkeypatch):
    """Other work on the machine after the first steps were timed: the schedule follows the clock, so the
    learning rate still reaches its floor when the budget ends, instead of being cut off part way."""
    import toolkit.training as training

    monkeypatch.setattr(training, "time", FakeClock(step=0.005, slow_after=300, slow_step=0.015))
    model, data = tiny_model(), tiny_data(n=512)
    cfg = BuildConfig(epochs=100_000, batch_size=16, time_budget="4s", patience=0)
    summary = train(model, data, cfg, progress=False)
    assert summary.budget_by == "time_budget" and summary.stopped_by is None
    assert 100 < summary.steps < 300 and 3.9 < summary.seconds <= 4.1
    assert float(model.optimizer.learning_rate.numpy()) < 2 * FINAL_LR_FRACTION * cfg.learning_rate  # annealed


def test_format_seconds():
    assert format_seconds(4.4) == "4 s" and format_seconds(99) == "99 s"
    assert format_seconds(125) == "2m05s" and format_seconds(3 * 3600 + 60) == "3h01m"


def test_build_with_a_tiny_time_budget_still_completes(tmp_path):
    out = tmp_path / "b"
    r = run_cli("build", "--target", "cortex-m", "--time-budget", "1s", "--epochs", "500", "--out", out)
    assert r.returncode == 0, r.stderr
    assert "time budget ran out" in r.stdout and "train     epoch 1/500, step " in r.stdout
    rep = json.loads((out / "report.json").read_text())
    assert 0 <= rep["accuracy"]["int8"] <= 1 and (out / "firmware" / "engine").is_dir()
    trained = re.search(r"note: trained ([\d,]+) epochs? \(", r.stdout)
    assert trained and int(trained[1].replace(",", "")) < 500  # stopped by the clock, long before the epochs

