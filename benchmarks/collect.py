"""Assembles BENCHMARKS.md from the result files the benchmark scripts wrote into benchmarks/results/."""
from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
ORDER = (  # (results file, the issue goal it answers): figures on the target cores first
    ("cores.md", "Speed on every emulated Cortex-M core against TFLM + CMSIS-NN (issue 11 goals): instructions "
                 "measured, cycles estimated"),
    ("fresh_shapes.md", "Models no one tuned for (depth multipliers, dilation, 5x5 and 7x7 kernels) on every core "
                        "against TFLM + CMSIS-NN (issue 26)"),
    ("suite.md", "On the emulated Cortex-M4 against TFLM + CMSIS-NN, and the model zoo against TFLM (RAM, speed, "
                 "flash, bit-exactness, weight sharing)"),
    ("keras_apps.md", "Keras applications no one tuned for (MobileNetV2, MobileNetV3-Small): build, verify, RAM "
                      "against TFLM"),
    ("op_coverage.md", "Op coverage: the engine against TFLM's int8 kernels (issue 15)"),
    ("search.md", "edgecnn search: the most accurate model within a RAM budget, against the exhaustive grid "
                  "(issue 14 goals)"),
    ("firmware_per_cpu.md", "Firmware per Cortex-M CPU on QEMU"),
    ("build_default.md", "Default build: wall time and the three convolution kinds"),
    ("build_mnist.md", "Default build on MNIST: the time budget, wall time and int8 accuracy"),
    ("engine_vs_tflm.md", "Generated engine against TFLM's reference kernels (host x86, secondary)"),
    ("android_bundle.md", "Android bundle: file sizes, parity and desktop latency"),
    ("fuzz_reader.md", "Fuzzing the .tflite reader and code generator"),
    ("fuzz_engine.md", "Differential fuzzing of the engine"),
    ("newest_deps.md", "Tests on the newest dependency versions (not the lock)"),
)


def main() -> None:
    parts = ["# edgecnn benchmarks", "",
             "Every figure below was measured by the script named in its section, at the commit and on the "
             "machine it names; `python benchmarks/run_all.py` re-measures every table in one run and "
             "`python benchmarks/collect.py` assembles this page from `benchmarks/results/`. A goal that is "
             "missed says so and by how much.", ""]
    for name, title in ORDER:
        path = RESULTS / name
        if not path.is_file():
            parts += [f"## {title}", "", f"Not measured yet (`{name}` missing).", ""]
            continue
        body = path.read_text().strip().splitlines()
        if body and body[0].startswith("# "):
            body = body[1:]
        parts += [f"## {title}", "", *body, ""]
        png = path.with_suffix(".png")
        if png.is_file():
            parts += [f"![{title}](benchmarks/results/{png.name})", ""]
    (ROOT / "BENCHMARKS.md").write_text("\n".join(parts))
    print(f"wrote {ROOT / 'BENCHMARKS.md'}")


if __name__ == "__main__":
    main()
