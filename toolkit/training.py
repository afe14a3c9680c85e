"""Seeded Keras training with a progress bar, a validation split and early stopping."""
from __future__ import annotations

import sys

import numpy as np

from toolkit.config import BuildConfig
from toolkit.datasets import Dataset
from toolkit.errors import ModelError


def seed_everything(seed: int) -> None:
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def _progress_callback(epochs: int):
    import keras
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    class RichProgress(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.progress = Progress(TextColumn("training"), BarColumn(), TextColumn("epoch {task.completed}/"
                                     "{task.total}"), TextColumn("{task.fields[metrics]}"), TimeElapsedColumn(),
                                     transient=True, console=Console(stderr=True))
            self.progress.start()
            self.task = self.progress.add_task("train", total=epochs, metrics="")

        def on_epoch_end(self, epoch, logs=None):
            logs = logs or {}
            text = f"loss {logs.get('loss', 0):.3f} val_acc {logs.get('val_accuracy', 0):.3f}"
            self.progress.update(self.task, completed=epoch + 1, metrics=text)

        def on_train_end(self, logs=None):
            self.progress.stop()

    return RichProgress()


def train(model, data: Dataset, cfg: BuildConfig, progress: bool = True):
    """Train in place with Adam and early stopping on validation loss (best weights restored)."""
    import keras

    seed_everything(cfg.seed)
    model.compile(optimizer=keras.optimizers.Adam(cfg.learning_rate), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    callbacks = [keras.callbacks.EarlyStopping(monitor="val_loss", patience=cfg.patience,
                                               restore_best_weights=True, start_from_epoch=10)] if cfg.patience else []
    callbacks.append(keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.5,
                                                       patience=max(2, cfg.patience // 2)))
    if progress and sys.stderr.isatty():  # a bar on a terminal only; logs and pipes get the stage lines
        callbacks.append(_progress_callback(cfg.epochs))
    out_classes = model.outputs[0].shape[-1]
    if out_classes != data.num_classes:
        raise ModelError(f"the model has {out_classes} outputs but the data set has {data.num_classes} classes",
                         hint="build the model for the data set's classes")
    history = model.fit(data.x_train, data.y_train, validation_data=(data.x_val, data.y_val), epochs=cfg.epochs,
                        batch_size=cfg.batch_size, shuffle=True, verbose=0, callbacks=callbacks)
    return history.history


def accuracy(probs: np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean(np.argmax(probs, axis=-1) == labels)) if len(labels) else float("nan")
