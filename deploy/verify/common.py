"""Compares device outputs with the golden reference and builds the verify.json record (shared by QEMU and serial)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from toolkit.errors import OutputError, VerificationError

VERIFY_KEYS = ("device", "samples", "bit_exact", "max_abs_diff_lsb", "top1_agreement_int8", "top1_agreement_float",
               "accuracy", "flash_bytes", "ram_bytes", "instructions_per_inference")


def load_golden(build_dir: Path, samples: int | None = None) -> dict[str, np.ndarray]:
    """The first `samples` golden records of a build folder (all when None)."""
    from toolkit.artifacts import read_golden

    return select_samples(read_golden(build_dir), samples)


def select_samples(data: dict | None, samples: int | None = None) -> dict[str, np.ndarray]:
    """The first `samples` records of a build's golden arrays (all when None)."""
    if data is None:
        raise OutputError("the build has no golden.npz", hint="point at the output folder of `edgecnn build`")
    n = len(data["inputs_int8"])
    if samples is not None:
        if samples <= 0:
            raise OutputError(f"--samples must be positive, got {samples}")
        n = min(n, int(samples))
    return {k: (v[:n] if k != "class_labels" else v) for k, v in data.items()}


def _acc(top1: np.ndarray, labels: np.ndarray) -> float:
    return round(float(np.mean(top1 == labels)), 6) if len(labels) else 0.0


def compare_outputs(golden: dict, outputs: np.ndarray, device: str) -> dict:
    """verify.json fields from device int8 outputs vs the golden TFLM int8 and Keras float outputs.

    `first_mismatch` is None when every sample is bit-exact, else the first differing sample (the same keys
    as deploy.verify.host): sample (index), output (device), expected (TFLM), label, positions that differ."""
    ref = np.asarray(golden["outputs_int8"]).reshape(len(golden["outputs_int8"]), -1)
    dev = np.asarray(outputs, dtype=np.int8).reshape(ref.shape)
    labels = golden.get("labels")  # None for a user's inputs without labels: no accuracy then
    labels = np.asarray(labels).reshape(-1) if labels is not None else None
    equal = np.all(dev == ref, axis=1)
    diff = np.abs(dev.astype(np.int32) - ref.astype(np.int32))
    dev_top1, ref_top1 = dev.argmax(axis=1), ref.argmax(axis=1)
    flt = golden.get("outputs_float")
    flt_top1 = np.asarray(flt).reshape(len(ref), -1).argmax(axis=1) if flt is not None else None
    first = None
    if not equal.all():
        i = int(np.argmin(equal))
        first = dict(sample=i, output=dev[i].tolist(), expected=ref[i].tolist(),
                     label=int(labels[i]) if labels is not None else None,
                     positions=np.nonzero(dev[i] != ref[i])[0].tolist())
    return dict(
        device=device, samples=int(len(ref)), bit_exact=round(float(equal.mean()), 6) if len(ref) else 0.0,
        max_abs_diff_lsb=int(diff.max()) if diff.size else 0,
        top1_agreement_int8=_acc(dev_top1, ref_top1),
        top1_agreement_float=_acc(dev_top1, flt_top1) if flt_top1 is not None else None,
        accuracy=dict(float=_acc(flt_top1, labels) if flt_top1 is not None and labels is not None else None,
                      int8=_acc(ref_top1, labels) if labels is not None else None,
                      device=_acc(dev_top1, labels) if labels is not None else None),
        mismatched_samples=int((~equal).sum()), first_mismatch=first,
    )


def check_verification(result: dict) -> None:
    """VerificationError naming the first differing sample unless every sample was bit-exact."""
    first = result.get("first_mismatch")
    if first is None and result.get("bit_exact", 1.0) >= 1.0:
        return
    first = first or {}
    count = result.get("mismatched_samples")
    given = result.get("inputs") or {}
    on = f" on --inputs {given.get('source')}" if given.get("given_by") == "--inputs" else ""
    how_many = f"{count} of {result['samples']}" if count is not None else f"{1 - result['bit_exact']:.1%} of the"
    raise VerificationError(
        f"{result['device']}{on}: {how_many} samples differ from the TFLM reference (max {result['max_abs_diff_lsb']} "
        f"LSB); first is sample {first.get('sample', '?')}: device {first.get('output')} vs reference "
        f"{first.get('expected')}" + _layer_text(result.get("first_differing_layer")),
        hint="the generated engine does not match TFLM's reference kernels for this model; please report it "
             "with the model file")


def _layer_text(layer: dict | None) -> str:
    if not layer:
        return ""
    return (f"; first differing layer: {layer['name']} ({layer['op']}, op {layer['op_index']}), "
            f"{layer['mismatches']} of {layer['size']} values differ by up to {layer['max_abs_diff']} LSB")


def device_slug(device: str) -> str:
    """'qemu:cortex-m0plus' -> 'qemu-cortex-m0plus'; 'serial:/dev/ttyACM0' -> 'serial-ttyACM0'; 'host'."""
    kind, _, arg = device.partition(":")
    arg = arg.rstrip("/").rsplit("/", 1)[-1]
    slug = f"{kind}-{arg}" if arg else kind
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in slug)


def write_verify_json(build_dir: Path, result: dict) -> Path:
    """Write verify-<device>.json (one per device, kept across runs on other devices) and verify.json (the
    latest run, the name DESIGN.md fixes); keys sorted, each written whole or not at all. Returns the first."""
    text = json.dumps(result, indent=2, sort_keys=True) + "\n"
    per_device = Path(build_dir) / f"verify-{device_slug(result['device'])}.json"
    for path in (per_device, Path(build_dir) / "verify.json"):
        tmp = path.with_name(f".{path.name}.tmp")
        try:
            tmp.write_text(text)
            tmp.replace(path)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise OutputError(f"cannot write {path}: {exc.strerror}") from None
    return per_device


__all__ = ["VERIFY_KEYS", "load_golden", "compare_outputs", "check_verification",
           "device_slug", "write_verify_json"]
