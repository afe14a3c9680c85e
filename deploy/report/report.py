"""The memory report: report.json, report.md and memory.png from an int8 model and its measurements."""
from __future__ import annotations

import json
from pathlib import Path

from deploy.report.layer_stats import all_layer_stats, live_activation_bytes
from deploy.engine.tflite_reader import Graph


def build_report(graph: Graph, *, name: str, conv: str | None, tflite_bytes: int, arena, accuracy: dict,
                 engine_ram: int | None = None, engine_flash: int | None = None, desktop_check: dict | None = None,
                 keras_params: int | None = None, labels=None, target: str | None = None,
                 golden_inputs: dict | None = None) -> dict:
    """The report as a dict with the keys DESIGN.md fixes (model, layers, memory, accuracy) and a few more."""
    layers = all_layer_stats(graph)
    live = live_activation_bytes(graph)
    inp, out = graph.tensors[graph.inputs[0]], graph.tensors[graph.outputs[0]]
    weights = sum(layer.weight_bytes for layer in layers)
    report = {
        "model": {"name": name, "conv": conv, "params": sum(layer.params for layer in layers),
                  "keras_params": keras_params, "macs": sum(layer.macs for layer in layers),
                  "input_shape": list(inp.shape[1:]), "classes": int(out.size), "labels": list(labels or []),
                  "ops": graph.op_names(), "target": target},
        "layers": [dict(layer.as_dict(), live_activation_bytes=b) for layer, b in zip(layers, live)],
        "memory": {
            "weights_bytes": weights,
            "tflite_bytes": tflite_bytes,
            "flash_bytes": engine_flash if engine_flash is not None else tflite_bytes,
            "peak_ram_bytes": engine_ram,
            "peak_live_activation_bytes": max(live) if live else 0,
            "tflm_arena_bytes": arena.total,
            "tflm_arena_head_bytes": arena.head,
            "tflm_arena_tail_bytes": arena.tail,
            "tflm_arena_measured_with": "tflite-micro RecordingMicroAllocator (host build, 64-bit pointers)",
        },
        "accuracy": accuracy,
    }
    if golden_inputs:
        report["golden_inputs"] = golden_inputs
    if desktop_check is not None:
        report["desktop_check"] = desktop_check
    return report


def _fmt(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.1e}" if 0 < abs(v) < 1e-3 else f"{v:.4f}"
    return f"{v:,}" if isinstance(v, int) else str(v)


def render_markdown(report: dict) -> str:
    m, mem, acc = report["model"], report["memory"], report["accuracy"]
    lines = [f"# {m['name']} ({m['conv'] or 'from file'})", "",
             f"Input {tuple(m['input_shape'])}, {m['classes']} classes, {m['params']:,} parameters, "
             f"{m['macs']:,} MACs per inference.", "",
             "| layer | op | output | params | MACs | weight bytes | output bytes | reuse | FC-equivalent params "
             "| unshared-equivalent params | sharing saves |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for layer in report["layers"]:
        saves = (f"{layer['unshared_equivalent_params'] / layer['params']:.0f}x"
                 if layer["params"] and layer["unshared_equivalent_params"] else "-")
        lines.append(f"| {layer['name']} | {layer['op']} | {'x'.join(map(str, layer['output_shape']))} | "
                     f"{_fmt(layer['params'])} | {_fmt(layer['macs'])} | {_fmt(layer['weight_bytes'])} | "
                     f"{_fmt(layer['output_bytes'])} | {_fmt(layer['reuse'])} | "
                     f"{_fmt(layer['fc_equivalent_params'])} | {_fmt(layer['unshared_equivalent_params'])} | {saves} |")
    lines += ["", "## Memory", "", "| what | bytes |", "|---|---:|"]
    for key in ("weights_bytes", "tflite_bytes", "engine_constant_bytes", "flash_bytes", "peak_ram_bytes",
                "firmware_ram_bytes", "peak_live_activation_bytes", "tflm_arena_bytes", "tflm_arena_head_bytes",
                "tflm_arena_tail_bytes"):
        if key in mem:
            lines.append(f"| {key} | {_fmt(mem.get(key))} |")
    lines += ["", f"TFLM arena: {mem['tflm_arena_measured_with']}."]
    if "flash_bytes_measured_with" in mem:
        lines += [f"Flash: {mem['flash_bytes_measured_with']}. Peak RAM: the engine's static arena plus scratch."]
    if "firmware_ram_parts" in mem:
        from deploy.devices.toolchain import ram_text

        lines += [f"RAM: {ram_text(mem['firmware_ram_parts'], mem['firmware_ram_bytes'], 'serial firmware')}."]
    if "engine_refused" in mem:
        lines += [f"Engine: not planned, {mem['engine_refused']}"]
    if acc.get("int8") is None and acc.get("float") is None:
        lines += ["", "## Accuracy", "", f"Accuracy {acc.get('reason') or 'not measured'}."]
    else:
        split = acc.get("measured_on") or "test split"
        lines += ["", f"## Accuracy ({split})", "", "| float | int8 |", "|---:|---:|",
                  f"| {_fmt(acc.get('float'))} | {_fmt(acc.get('int8'))} |"]
        if acc.get("reason"):
            lines += ["", f"Accuracy {acc['reason']}."]
    golden = report.get("golden_inputs") or {}
    if golden.get("source") == "random":
        lines += ["", f"Golden inputs: {golden['samples']} seeded random int8 inputs (seed {golden['seed']}), with "
                      "TFLM's outputs."]
    elif golden.get("source") == "--inputs":
        lines += ["", f"Golden inputs: {golden['samples']} of {golden['given']} inputs from {golden['file']} "
                      f"({golden['format']}), with TFLM's outputs."]
    if "desktop_check" in report:
        d = report["desktop_check"]
        what = "test samples" if golden.get("source") in (None, "dataset") else "golden inputs"
        lines += ["", f"Desktop check: {d['runtime']} and TFLM agree bit for bit on {d['bit_exact_samples']} of "
                      f"{d['samples']} {what} (max difference {d['max_abs_diff_lsb']} LSB)."]
    if "android" in report and report["android"].get("reference") == "tflm":
        a = report["android"]
        lines += ["", f"## Android bundle parity ({a['samples']} golden inputs, int8 outputs against TFLM)", "",
                  "| file | runtime | bytes | bit-exact | max diff LSB | top-1 agreement | goal met |",
                  "|---|---|---:|---:|---:|---:|---|"]
        for fname, f in a["files"].items():
            lines.append(f"| {fname} | {f['runtime']} | {_fmt(f['bytes'])} | {_fmt(f['bit_exact'])} | "
                         f"{_fmt(f['max_abs_diff_lsb'])} | {_fmt(f['top1_agreement'])} | {'yes' if f['ok'] else 'NO'} |")
        lines += ["", "Not written (an int8 .tflite alone cannot give them):", ""]
        lines += [f"- {fname}: {why}" for fname, why in a["not_written"].items()]
    elif "android" in report:
        lines += ["", "## Android bundle parity (test split, against Keras)", "",
                  "| file | runtime | bytes | max abs diff | top-1 agreement | accuracy | goal met |",
                  "|---|---|---:|---:|---:|---:|---|"]
        for fname, f in report["android"]["files"].items():
            lines.append(f"| {fname} | {f.get('runtime', '-')} | {_fmt(f.get('bytes'))} | "
                         f"{_fmt(f.get('max_abs_diff'))} | {_fmt(f.get('top1_agreement'))} | "
                         f"{_fmt(f.get('accuracy'))} | {'yes' if f.get('ok') else 'NO'} |")
    return "\n".join(lines) + "\n"


def plot_memory(report: dict, path: Path) -> None:
    """memory.png: live activation bytes and weight bytes, layer by layer."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    layers = report["layers"]
    names = [f"{i}:{layer['op'].lower()}" for i, layer in enumerate(layers)]
    fig, ax = plt.subplots(figsize=(max(6, 0.5 * len(layers) + 2), 4), dpi=100)
    xs = range(len(layers))
    ax.bar(xs, [layer["live_activation_bytes"] for layer in layers], label="live activations (bytes)")
    ax.plot(xs, [layer["weight_bytes"] for layer in layers], "o-", color="tab:orange", label="weights (bytes)")
    mem = report["memory"]
    ax.axhline(mem["tflm_arena_bytes"], color="tab:red", ls="--", label=f"TFLM arena {mem['tflm_arena_bytes']:,} B")
    if mem.get("peak_ram_bytes"):
        ax.axhline(mem["peak_ram_bytes"], color="tab:green", ls=":", label=f"edgecnn peak RAM {mem['peak_ram_bytes']:,} B")
    ax.set_xticks(list(xs), names, rotation=60, ha="right", fontsize=7)
    ax.set_ylabel("bytes")
    ax.set_title(f"{report['model']['name']}: memory layer by layer")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, metadata={"Software": "edgecnn"})
    plt.close(fig)


def write_report(report: dict, out_dir: Path) -> None:
    (out_dir / "report.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    (out_dir / "report.md").write_text(render_markdown(report), encoding="utf-8")
    plot_memory(report, out_dir / "memory.png")
