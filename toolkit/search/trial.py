"""One search trial, the same function in a local worker process and on a Ray worker: plan the candidate against
the budget (rejected at once, before any training, when over), train it briefly (stopped early when a finished
trial that is no larger already did better at the same epoch), quantize it to int8 and measure it: accuracy with
the TFLM reference, instructions per inference of its generated engine on the emulated core.

run_trial(spec) takes and returns plain dicts (picklable, JSON-able) and never raises: an error becomes
{"status": "failed", "error": ...} so that the study records it.

Fault injection (for tests of the backends): EDGECNN_SEARCH_FAULT="raise:N" makes trial N raise on its worker,
"crash:N" makes it kill its worker process the first time it runs (a marker file in the output folder says it
already did), as a lost machine would; several are separated by commas.
"""
from __future__ import annotations

import math
import os
import socket
import time
import traceback
from pathlib import Path

import numpy as np

from toolkit.search.space import input_side, model_kwargs

PRUNE_FROM_EPOCH = 2  # no run is judged on its first epoch
PRUNE_MARGIN = 0.05  # a finished, no larger candidate this much more accurate at the same epoch prunes a run
QEMU_SAMPLES = 4  # validation samples run on the emulated core (instructions are the same for every input)

_DATA: dict = {}  # (dataset, seed, side) -> Dataset, per worker process
_CODE_BYTES: dict = {}  # (target|kernels) -> code bytes, per worker process
_THREADS: list = []


def _configure(threads: int | None) -> None:
    """TensorFlow's thread pools, once per process (a worker shares the machine with the others)."""
    if _THREADS:
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from toolkit.capture import import_tensorflow_quietly, quiet_libraries

    quiet_libraries()
    import_tensorflow_quietly()
    import tensorflow as tf

    if threads:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    _THREADS.append(threads)


def dataset_for(name: str, seed: int, resolution: float = 1.0):
    """The data set, its images resized for `resolution` (cached per process)."""
    from toolkit.datasets import load_dataset

    base = _DATA.get((name, seed, None))
    if base is None:
        base = _DATA[(name, seed, None)] = load_dataset(name, seed=seed)
    if resolution == 1.0:
        return base
    side = input_side(min(base.input_shape[:2]), resolution)
    key = (name, seed, side)
    if key not in _DATA:
        _DATA[key] = resize_dataset(base, side)
    return _DATA[key]


def resize_dataset(data, side: int):
    """Every split resized so that the shorter image side is `side` (area-averaged, antialiased)."""
    import dataclasses

    import tensorflow as tf

    h, w = data.input_shape[:2]
    size = (side, max(1, int(round(w * side / h)))) if h <= w else (max(1, int(round(h * side / w))), side)

    def rs(x):
        if len(x) == 0:
            return x
        return np.clip(tf.image.resize(x, size, method="area", antialias=True).numpy(), 0.0, 1.0).astype(np.float32)

    return dataclasses.replace(data, x_train=rs(data.x_train), x_val=rs(data.x_val), x_calib=rs(data.x_calib),
                               x_test=rs(data.x_test))


def build_candidate(params: dict, data, seed: int):
    from models import build_model
    from toolkit.training import seed_everything

    seed_everything(seed)
    return build_model("compact_cnn", data.input_shape, data.num_classes, **model_kwargs(params))


def dominated(curve: list[float], macs: int, ram: int, reference: list[dict], epochs: int) -> dict | None:
    """The finished trial that prunes this run at its last epoch, if any: no more MACs and RAM, and at least
    PRUNE_MARGIN more validation accuracy at the same epoch (so this run is unlikely to reach the Pareto front)."""
    e = len(curve)
    if e < PRUNE_FROM_EPOCH or e >= epochs:
        return None
    for ref in reference:
        c = ref["curve"]
        if len(c) >= e and ref["macs"] <= macs and ref["ram_bytes"] <= ram and c[e - 1] >= curve[-1] + PRUNE_MARGIN:
            return ref
    return None


def train_briefly(model, data, params: dict, epochs: int, seed: int, should_stop) -> tuple[list[float], float]:
    """Adam with a cosine decay over `epochs`; returns the validation accuracy per epoch and the seconds.
    `should_stop(curve)` is asked after every epoch."""
    import keras

    from toolkit.training import auto_batch_size, seed_everything

    seed_everything(seed)
    batch = auto_batch_size(len(data.x_train))
    steps = epochs * math.ceil(len(data.x_train) / batch)
    lr = keras.optimizers.schedules.CosineDecay(params["learning_rate"], steps, alpha=0.02)
    model.compile(optimizer=keras.optimizers.Adam(lr), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    curve: list[float] = []

    class Watch(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            curve.append(float((logs or {}).get("val_accuracy", 0.0)))
            if should_stop(curve):
                self.model.stop_training = True

    t0 = time.perf_counter()
    model.fit(data.x_train, data.y_train, validation_data=(data.x_val, data.y_val), epochs=epochs, batch_size=batch,
              shuffle=True, verbose=0, callbacks=[Watch()])
    return curve, time.perf_counter() - t0


def _inject_fault(spec: dict) -> None:
    fault = next((f for f in spec.get("fault") or () if f["trial"] == spec["number"]), None)
    if fault is None:
        return
    if fault["kind"] == "raise":
        raise RuntimeError(f"injected fault in trial {spec['number']} (EDGECNN_SEARCH_FAULT)")
    marker = Path(fault["marker"])
    if not marker.exists():
        marker.write_text(f"trial {spec['number']} crashed its worker {os.getpid()} once\n")
        os._exit(17)


def run_trial(spec: dict) -> dict:
    """Plan, (maybe) train, quantize and measure one candidate; see the module docstring."""
    t0 = time.perf_counter()
    result = {"number": spec["number"], "worker": f"{socket.gethostname()}:{os.getpid()}"}
    try:
        _inject_fault(spec)
        result.update(_run(spec))
    except Exception as exc:  # recorded in the study, not lost: the message names the trial and the cause
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
        result.update(status="failed", error=f"{type(exc).__name__}: {first}",
                      traceback=traceback.format_exc(limit=6)[-2000:])
    result["seconds"] = round(time.perf_counter() - t0, 2)
    return result


def _run(spec: dict) -> dict:
    from toolkit.search.budget import Budget, plan_candidate
    from toolkit.targets import get_target

    _configure(spec.get("threads"))
    _CODE_BYTES.update(spec.get("code_bytes") or {})
    params, target, budget = spec["params"], get_target(spec["target"]), Budget(**spec["budget"])
    data = dataset_for(spec["dataset"], spec["seed"], params["resolution"])
    model = build_candidate(params, data, spec["seed"])
    plan = plan_candidate(model, data, target, _CODE_BYTES, exact_flash=budget.flash_bytes is not None,
                          probe_latency=budget.latency_ms is not None)
    out = {"plan": plan, "code_bytes": dict(_CODE_BYTES), "input_shape": list(data.input_shape)}
    over = budget.violations(plan)
    if over:
        return {**out, "status": "rejected", "reason": "over budget before training: " + "; ".join(over)}
    if spec.get("plan_only"):
        return {**out, "status": "planned"}
    epochs, pruned_by = spec["epochs"], []

    def should_stop(curve):
        if not spec.get("prune", True):
            return False
        ref = dominated(curve, plan["macs"], plan["ram_bytes"], spec.get("reference") or [], epochs)
        if ref is not None:
            pruned_by.append(ref)
        return ref is not None

    curve, train_s = train_briefly(model, data, params, epochs, spec["seed"], should_stop)
    out.update(curve=curve, train_seconds=round(train_s, 2), epochs=len(curve))
    if pruned_by:
        ref = pruned_by[0]
        return {**out, "status": "pruned",
                "reason": f"pruned after epoch {len(curve)}: validation accuracy {curve[-1]:.3f}, trial "
                          f"{ref['number']} (no larger) had {ref['curve'][len(curve) - 1]:.3f} there"}
    return {**out, "status": "complete", **_measure(model, data, target, plan)}


def _measure(model, data, target, plan: dict) -> dict:
    """int8 accuracy (validation: the search's objective; test: reported) with TFLM, and the engine on the core."""
    from deploy.engine.codegen import plan_engine
    from deploy.convert.quantize import to_int8_tflite
    from toolkit.search.measure import instructions_on_core, int8_outputs

    int8 = to_int8_tflite(model, data.x_calib)
    x = np.concatenate([data.x_val, data.x_test])
    x_int8, ref = int8_outputs(int8, x)
    n_val = len(data.x_val)
    top1 = ref.argmax(axis=1)
    engine = plan_engine(int8, list(data.labels))
    core = instructions_on_core(engine, target, x_int8[:QEMU_SAMPLES], ref[:QEMU_SAMPLES], data.y_val[:QEMU_SAMPLES])
    return {"accuracy": float(np.mean(top1[:n_val] == data.y_val)),
            "test_accuracy": float(np.mean(top1[n_val:] == data.y_test)),
            "instructions": core["instructions"], "bit_exact": core["bit_exact"],
            "engine_ram_bytes": core["engine_ram_bytes"], "ram_matches_plan": core["engine_ram_bytes"] == plan["ram_bytes"]}


__all__ = ["run_trial", "dominated", "dataset_for", "resize_dataset", "build_candidate"]
