"""Builds the chosen candidate in full: trained with the build's schedule (not the trial's short one), then the
normal build pipeline (toolkit.pipeline.run) from that Keras model, so OUT/best has every artifact of
`edgecnn build` (model files, report, golden inputs, firmware) and is verified on the emulated core.

A candidate at a reduced input resolution is built on the resized data set, written as OUT/data/NAME_SIDEpx.npz
(the x_train/y_train/x_test/y_test layout any build takes with --dataset)."""
from __future__ import annotations

from pathlib import Path

import numpy as np


def _dataset_arg(settings, data, out: Path, resolution: float) -> str:
    """--dataset for the build: the name or path searched, or the resized copy written under OUT/data."""
    if resolution == 1.0:
        return settings.dataset
    folder = out / "data"
    folder.mkdir(exist_ok=True)
    path = folder / f"{Path(settings.dataset).stem}_{data.input_shape[0]}px.npz"
    if not path.is_file():  # the calibration images carry no labels in a Dataset: the build splits again
        tmp = path.with_name(f".{path.stem}.partial.npz")
        np.savez_compressed(tmp, x_train=np.concatenate([data.x_train, data.x_val]),
                            y_train=np.concatenate([data.y_train, data.y_val]), x_test=data.x_test, y_test=data.y_test,
                            labels=np.array(data.labels))
        tmp.replace(path)
    return str(path)


def build_chosen(settings, row: dict, out: Path, log=print):
    """Train the chosen candidate with the build's schedule and run the build pipeline into OUT/best."""
    from toolkit.capture import import_tensorflow_quietly
    from toolkit.config import BuildConfig
    from toolkit.pipeline import run
    from toolkit.search.trial import build_candidate, dataset_for
    from toolkit.targets import get_target
    from toolkit.training import train

    import_tensorflow_quietly()
    params = row["params"]
    data = dataset_for(settings.dataset, settings.seed, params["resolution"])
    dataset = _dataset_arg(settings, data, out, params["resolution"])
    model = build_candidate(params, data, settings.seed)
    epochs = {"epochs": settings.final_epochs} if settings.final_epochs else {}
    train_cfg = BuildConfig(target=settings.target, dataset=dataset, learning_rate=params["learning_rate"],
                            seed=settings.seed, **epochs)
    summary = train(model, data, train_cfg, progress=False, log=log)
    log(summary.note(train_cfg))
    keras_file = out / "chosen.keras"
    model.save(keras_file)
    target = get_target(settings.target)
    verify = "qemu" if target.kind == "mcu" and target.qemu_machine else "host"
    cfg = BuildConfig(target=settings.target, dataset=dataset, from_model=str(keras_file), out=str(out / "best"),
                      verify=verify, seed=settings.seed, force=True)
    try:
        return run(cfg, log=log)
    finally:
        keras_file.unlink(missing_ok=True)


__all__ = ["build_chosen"]
