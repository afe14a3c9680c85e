"""Seeded Keras training inside a time or step budget, with a validation split, early stopping and progress lines.

The schedule scales with the data set. Small data sets (digits: 1,222 training images) train with batches of
32, Adam, learning-rate halving on plateaus and early stopping, up to --epochs; on this machine that ends long
before the time budget, and the run is reproducible bit for bit from --seed. Larger data sets get larger
batches (fewer, cheaper steps per image on a CPU). When the first steps, timed, show that the steps --epochs
asks for will not fit in --time-budget, the clock drives the schedule: the learning rate stays flat for the
first quarter of the budget, then follows a cosine to a small value as the budget runs out, and training ends
there, annealed, however fast or slow the machine turns out to be (other work on it included). `max_steps`
runs the same schedule over a count of optimizer steps instead of the clock: reproducible bit for bit.
"""
from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass, field

import numpy as np

from toolkit.config import BuildConfig
from toolkit.datasets import Dataset
from toolkit.errors import ModelError

SMALL_BATCH = 32  # digits' accuracy was tuned with it
MIN_STEPS_PER_EPOCH = 256  # a larger batch only while an epoch keeps at least this many steps
MAX_AUTO_BATCH = 128  # CPU time per image falls by about a third from 32 to 128 (profile in benchmarks/)
MEASURE_AFTER, MEASURE_STEPS = 10, 60  # steps not timed (tracing, warm-up), then steps timed to decide the regime
MEASURE_SECONDS = 3.0  # or fewer steps when they take longer than this
CONSTANT_FRACTION = 0.25  # of the budget (time or steps) at the full learning rate before the cosine starts
FINAL_LR_FRACTION = 0.02  # the learning rate at the end of the budget, relative to the start
LAST_EPOCH_FRACTION = 0.25  # a clock-driven run ends at an epoch's end when less than this of an epoch fits
LOG_EVERY_S = 5.0  # seconds between progress lines (the first and last epoch always get one)


def seed_everything(seed: int) -> None:
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def auto_batch_size(n_train: int) -> int:
    """32 for small data sets; doubled (up to 128) while an epoch keeps MIN_STEPS_PER_EPOCH steps: 64 from
    16,384 training images, 128 from 32,768."""
    batch = SMALL_BATCH
    while batch < MAX_AUTO_BATCH and n_train >= MIN_STEPS_PER_EPOCH * batch * 2:
        batch *= 2
    return batch


def budget_learning_rate(progress: float, lr: float) -> float:
    """The budgeted schedule at `progress` (0 to 1, of the time budget or of max_steps): `lr` for the first
    quarter, then a cosine down to FINAL_LR_FRACTION * lr at the end."""
    if progress < CONSTANT_FRACTION:
        return lr
    t = min(1.0, (progress - CONSTANT_FRACTION) / (1 - CONSTANT_FRACTION))
    return lr * (FINAL_LR_FRACTION + (1 - FINAL_LR_FRACTION) * 0.5 * (1 + math.cos(math.pi * t)))


def format_seconds(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    if seconds < 100:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    return f"{minutes}m{seconds:02d}s" if minutes < 60 else f"{minutes // 60}h{minutes % 60:02d}m"


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


@dataclass
class TrainSummary:
    """What the training loop did, for the stage's note and for tests."""

    epochs: int = 0
    steps: int = 0
    batch_size: int = 0
    seconds: float = 0.0
    max_steps: int = 0  # the steps of the maximum epochs
    budget_by: str | None = None  # "time_budget" or "max_steps" when that budget drove the schedule
    stopped_by: str | None = None  # "time_budget" (the clock cut an unbudgeted schedule), "early_stopping", None
    reproducible: bool = True  # False when the clock, not the seed and the options, decided the steps
    history: dict = field(default_factory=dict)

    def note(self, cfg: BuildConfig) -> str:
        budget = cfg.time_budget if isinstance(cfg.time_budget, str) else f"{cfg.time_budget:g} s"
        text = (f"trained {_plural(self.epochs, 'epoch')} ({_plural(self.steps, 'step')} of batch "
                f"{self.batch_size}) in {format_seconds(self.seconds)}")
        if self.budget_by == "time_budget":
            text += (f"; {cfg.epochs:,} epochs ({self.max_steps:,} steps) would not fit in the {budget} time "
                     "budget: the learning rate followed the clock to its floor (for a run reproducible bit for "
                     f"bit: --max-steps {self.steps} --time-budget none)")
        elif self.budget_by == "max_steps":
            text += f"; the learning rate followed max_steps {cfg.max_steps:,} to its floor"
        if self.stopped_by == "time_budget":
            text += f"; stopped when the {budget} time budget ran out (a rerun may stop at another step)"
        elif self.stopped_by == "early_stopping":
            text += "; early stopping ended it (no better validation loss)"
        return text


def _budget_callback(summary: TrainSummary, cfg: BuildConfig, steps_per_epoch: int, val_batches: int,
                     log, progress_bar: bool):
    """One callback owns the budget: it times the first steps, decides whether the budget drives the
    schedule, sets the learning rate of a budgeted run at every step, ends it when the budget is spent (or
    cuts an unbudgeted run when the clock runs out), and reports progress."""
    import keras

    max_steps = cfg.epochs * steps_per_epoch
    budget = cfg.time_budget_seconds

    class Budget(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.t0 = time.perf_counter()
            self.step = 0
            self.measure_t0 = None
            self.step_s = None  # seconds per optimizer step, once measured
            self.val_s = None  # seconds of one validation pass, once measured
            self.val_total = 0.0  # seconds of validation since the timing started
            self.last_log = -math.inf
            self.by = None  # "max_steps" or "time_budget" once a budget drives the schedule
            self.decided = False
            self.bar = _progress_bar(max_steps) if progress_bar else None
            if cfg.max_steps is not None and cfg.max_steps < max_steps:
                self.by = summary.budget_by = "max_steps"
                if self.bar is not None:
                    self.bar.retotal(cfg.max_steps)

        def _progress(self, now: float) -> float:
            if self.by == "max_steps":
                return self.step / cfg.max_steps
            return (now - self.t0) / self._train_seconds()

        def _train_seconds(self) -> float:
            """The budget less one validation pass: the one that follows the last step."""
            return budget - (self.val_s if self.val_s is not None else 0.0)

        def _set_rate(self, now: float) -> None:
            self.model.optimizer.learning_rate.assign(budget_learning_rate(self._progress(now), cfg.learning_rate))

        def on_train_batch_begin(self, batch, logs=None):
            if self.by:
                self._set_rate(time.perf_counter())

        def on_train_batch_end(self, batch, logs=None):
            self.step += 1
            now = time.perf_counter()
            if self.step == MEASURE_AFTER:
                self.measure_t0 = now
            elif self.step_s is None and self.step > MEASURE_AFTER and (
                    self.step == MEASURE_AFTER + MEASURE_STEPS or now - self.measure_t0 > MEASURE_SECONDS):
                self._measure(now)
                self._decide(now)
            if self.by and self._progress(now) >= 1.0:
                self.model.stop_training = True  # the budget is spent: the end of the schedule
            elif budget is not None and now - self.t0 >= budget and not self.model.stop_training:
                self.model.stop_training = True  # a schedule the clock was not driving, cut by it
                summary.stopped_by, summary.reproducible = "time_budget", False
            if self.bar is not None:
                self.bar.advance(self.step, self._eta(now))

        def _decide(self, now: float) -> None:
            """Once, at the first speed measurement: if the steps --epochs asks for will not fit in the time
            budget, the clock drives the schedule from here on (otherwise the run goes on as it began)."""
            if budget is None or self.by is not None or self.decided:
                return
            self.decided = True
            fits = self.step + int((budget - (now - self.t0)) / self._cost_per_step())
            if fits < max_steps:
                self.by = summary.budget_by = "time_budget"
                summary.reproducible = False
                if self.bar is not None:
                    self.bar.retotal(fits)

        def _measure(self, now: float) -> None:
            """Seconds per training step since the timing started, validation passes excluded."""
            self.step_s = (now - self.measure_t0 - self.val_total) / (self.step - MEASURE_AFTER)

        def _cost_per_step(self) -> float:
            """Seconds per step with the validation passes spread over the steps of an epoch (a validation
            step runs forward only: about a third of a training step, until one has been timed)."""
            val = self.val_s if self.val_s is not None else val_batches * self.step_s / 3 + 1.0
            return self.step_s + val / steps_per_epoch

        def _eta(self, now: float) -> tuple[float | None, bool]:
            """Seconds left (None until a speed is measured) and whether that is an upper bound."""
            if self.by == "time_budget":
                return max(0.0, self._train_seconds() - (now - self.t0)), False
            if self.step_s is None:
                return None, True
            left = ((cfg.max_steps if self.by else max_steps) - self.step) * self._cost_per_step()
            bounded = budget is not None and budget - (now - self.t0) < left
            if bounded:
                left = max(0.0, budget - (now - self.t0))
            return left, not self.by and not bounded  # no budget schedule: early stopping may end sooner

        def _total_steps(self, now: float) -> tuple[int, str]:
            """The steps this run will take, and "~" when that is the clock's estimate."""
            if self.by == "max_steps":
                return cfg.max_steps, ""
            if self.by == "time_budget":
                return self.step + int(self._eta(now)[0] / self._cost_per_step()), "~"
            return max_steps, ""

        def on_test_begin(self, logs=None):
            self.val_t0 = time.perf_counter()

        def on_test_end(self, logs=None):
            self.val_s = time.perf_counter() - self.val_t0
            if self.measure_t0 is not None:
                self.val_total += self.val_s

        def on_epoch_end(self, epoch, logs=None):
            logs = logs or {}
            summary.epochs, summary.steps = epoch + 1, self.step
            now = time.perf_counter()
            if self.by:
                self._set_rate(now)  # the budget, not a plateau (ReduceLROnPlateau ran before), sets the rate
            if self.step > MEASURE_AFTER:
                self._measure(now)  # the time left below follows the speed of the whole run so far
                self._decide(now)
            if self.by == "time_budget" and self._eta(now)[0] < LAST_EPOCH_FRACTION * steps_per_epoch * self.step_s:
                self.model.stop_training = True  # a few steps more would cost a whole validation pass more
            last = self.model.stop_training or self.step >= max_steps
            if log is not None and (epoch == 0 or last or now - self.last_log >= LOG_EVERY_S):
                self.last_log = now
                total, about = self._total_steps(now) if not last else (self.step, "")
                epochs = (f"{epoch + 1}/{cfg.epochs}" if not self.by else
                          f"{epoch + 1}/{about}{max(epoch + 1, math.ceil(total / steps_per_epoch))} "
                          f"({'time budget' if self.by == 'time_budget' else 'max_steps'})")
                left, at_most = self._eta(now)
                eta = ("" if last else ", time left unknown" if left is None else
                       f", {'at most ' if at_most else ''}~{format_seconds(left)} left")
                line = (f"{'train':<9} epoch {epochs}, step {self.step:,}/{about}{total:,}, loss "
                        f"{logs.get('loss', 0):.3f}, val_acc {logs.get('val_accuracy', 0):.3f}, "
                        f"{format_seconds(now - self.t0)} elapsed{eta}")
                if self.bar is not None:
                    self.bar.print_above(log, line)
                else:
                    log(line)

        def on_train_end(self, logs=None):
            summary.seconds = time.perf_counter() - self.t0
            if self.bar is not None:
                self.bar.stop()

    return Budget()


def _progress_bar(total_steps: int):
    """A transient bar on a terminal (stderr): the step and the time left (the epoch lines go to the log)."""
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn

    class Bar:
        def __init__(self):
            self.progress = Progress(TextColumn("training"), BarColumn(), TextColumn("step {task.completed:,}/"
                                     "{task.total:,}"), TextColumn("{task.fields[eta]}"), transient=True,
                                     console=Console(stderr=True))
            self.progress.start()
            self.task = self.progress.add_task("train", total=total_steps, eta="")

        def advance(self, step: int, eta: tuple[float | None, bool]) -> None:
            left, at_most = eta
            text = "" if left is None else f"{'at most ' if at_most else ''}~{format_seconds(left)} left"
            self.progress.update(self.task, completed=step, eta=text)

        def print_above(self, log, line: str) -> None:
            """The line through `log`, with the bar taken off the terminal meanwhile and drawn again below."""
            self.progress.stop()
            log(line)
            self.progress.start()

        def retotal(self, total: int) -> None:
            self.progress.update(self.task, total=total)

        def stop(self):
            self.progress.stop()

    return Bar()


def train(model, data: Dataset, cfg: BuildConfig, progress: bool = True, log=None) -> TrainSummary:
    """Train in place with Adam inside cfg's epochs, time budget and max_steps, with early stopping on
    validation loss (best weights restored); `log` gets a progress line per epoch (at most every 5 s)."""
    import keras

    out_classes = model.outputs[0].shape[-1]
    if out_classes != data.num_classes:
        raise ModelError(f"the model has {out_classes} outputs but the data set has {data.num_classes} classes",
                         hint="build the model for the data set's classes")
    seed_everything(cfg.seed)
    batch = cfg.batch_size or auto_batch_size(len(data.x_train))
    steps_per_epoch = math.ceil(len(data.x_train) / batch)
    summary = TrainSummary(batch_size=batch, max_steps=cfg.epochs * steps_per_epoch)
    model.compile(optimizer=keras.optimizers.Adam(cfg.learning_rate), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    callbacks = [keras.callbacks.EarlyStopping(monitor="val_loss", patience=cfg.patience,
                                               restore_best_weights=True, start_from_epoch=10)] if cfg.patience else []
    callbacks.append(keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.5,
                                                       patience=max(2, cfg.patience // 2)))
    callbacks.append(_budget_callback(summary, cfg, steps_per_epoch, math.ceil(len(data.x_val) / batch), log,
                                      progress_bar=progress and sys.stderr.isatty()))  # a bar on a terminal only
    history = model.fit(data.x_train, data.y_train, validation_data=(data.x_val, data.y_val), epochs=cfg.epochs,
                        batch_size=batch, shuffle=True, verbose=0, callbacks=callbacks)
    summary.history = history.history
    if cfg.patience and callbacks[0].stopped_epoch > 0 and summary.stopped_by is None:
        summary.stopped_by = "early_stopping"
    return summary


def accuracy(probs: np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean(np.argmax(probs, axis=-1) == labels)) if len(labels) else float("nan")
