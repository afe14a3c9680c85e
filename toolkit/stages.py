"""The build stages: each reads earlier artifacts from the context and writes its own into the output folder.

A stage returns None when it ran, or a short reason when it had nothing to do (the pipeline prints it as
skipped)."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from toolkit.artifacts import Build
from toolkit.config import BuildConfig
from toolkit.errors import ConfigError, ModelError, ModelFileError, UnsupportedOpError
from deploy.report.memory import mark_fallback, plan_engine_memory
from toolkit.fit import ModelTooLargeError, Need, fit_error, fit_hint, keras_lower_bound, limits, part_name
from toolkit.targets import Target, get_board


@dataclass
class Context:
    """What the stages hand forward: the config, the folder being written and the artifacts so far."""

    cfg: BuildConfig
    target: Target
    out: Path  # the staging folder; published under cfg.out_dir when every stage has passed
    data: Any = None  # toolkit.datasets.Dataset; None for a .tflite built without a data set
    model: Any = None  # keras.Model, None when building from a .tflite file
    float_tflite: bytes | None = None
    int8_tflite: bytes | None = None
    graph: Any = None
    golden: dict = field(default_factory=dict)
    accuracy: dict = field(default_factory=dict)
    report: dict = field(default_factory=dict)
    desktop: dict | None = None
    android: dict | None = None
    verify: dict | None = None
    engine: Any = None  # deploy.engine.codegen.EnginePlan, planned by the report stage
    user_inputs: dict | None = None  # --inputs FILE, read and checked against the model (deploy.verify.inputs)
    golden_info: dict = field(default_factory=dict)  # where golden.npz's inputs came from (report.json)
    notes: list[str] = field(default_factory=list)
    log: Any = None  # the pipeline's line printer, for stages that report progress while they run
    build: Build | None = None  # what the deploy functions and verifiers take: filled stage by stage

    def __post_init__(self):
        if self.build is None:
            board = get_board(self.target, self.cfg.board) if self.cfg.board else None  # resolved once
            self.build = Build(out=self.out, target=self.target, board=board)

    @property
    def model_name(self) -> str:
        return self.cfg.model_name

    @property
    def labels(self) -> list[str] | None:
        """The class names of the data set; None without one (code generation then numbers the outputs)."""
        return list(self.data.labels) if self.data is not None else None


def random_golden_samples(cfg: BuildConfig) -> int:
    """How many random int8 golden inputs a .tflite built without a data set gets (at most golden_samples)."""
    from toolkit.config import RANDOM_GOLDEN_SAMPLES

    return min(cfg.golden_samples, RANDOM_GOLDEN_SAMPLES)


def stage_dataset(ctx: Context) -> None:
    if ctx.cfg.dataset is None:  # a .tflite without --dataset: golden inputs from --inputs or the seed
        if ctx.cfg.inputs:
            return f"no --dataset: the golden inputs are --inputs {ctx.cfg.inputs}"
        return (f"no --dataset: the golden inputs are {random_golden_samples(ctx.cfg)} random int8 inputs "
                f"(--seed {ctx.cfg.seed}); accuracy is not measured")
    from toolkit.datasets import load_dataset

    ctx.data = load_dataset(ctx.cfg.dataset, seed=ctx.cfg.seed)


def _refuse_float_tflite(path: Path, graph) -> None:
    """A float .tflite: say that its weights are float (the real reason), and what to give instead."""
    for op in graph.operators:
        w = graph.tensors[op.inputs[1]] if len(op.inputs) > 1 and op.inputs[1] >= 0 else None
        if w is not None and w.is_constant and w.dtype == "float32":
            raise ModelFileError(f"{path} is a float model: the weights of layer {op.name} ({op.op}) are float32; "
                                 "--from-model .tflite must be a full-integer int8 model",
                                 hint="give the trained .keras model with --dataset (edgecnn calibrates and "
                                      "quantizes it), or export the .tflite with full-integer quantization")


def _load_keras(path: Path):
    import zipfile

    import keras

    if not zipfile.is_zipfile(path):
        raise ModelFileError(f"cannot load Keras model {path}: it is not a .keras archive (not a zip file)",
                             hint="give a .keras file saved by keras.Model.save")
    try:
        return keras.models.load_model(path, compile=False)
    except Exception as exc:  # Keras raises many types for a bad file; all mean "cannot load"
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise ModelFileError(f"cannot load Keras model {path}: {first}",
                             hint="give a .keras file saved by keras.Model.save") from None


def stage_model(ctx: Context) -> None:
    """Build the architecture, or load --from-model (.keras: trained weights; .tflite: the int8 model itself)."""
    cfg, data = ctx.cfg, ctx.data
    if cfg.from_model:
        path = Path(cfg.from_model)
        if not path.is_file():
            raise ModelFileError(f"--from-model {path} does not exist", hint="check the path")
        if path.suffix == ".keras":
            ctx.model = _load_keras(path)
            if len(ctx.model.inputs) != 1 or len(ctx.model.outputs) != 1:
                raise ModelFileError(f"{path} has {len(ctx.model.inputs)} inputs and {len(ctx.model.outputs)} "
                                     "outputs; edgecnn deploys models with one image input and one output")
        elif path.suffix == ".tflite":
            from deploy.engine.tflite_reader import read_tflite

            from deploy.engine.graph_passes import peel_float_io

            ctx.graph = read_tflite(path)  # errors name the file
            ctx.int8_tflite = path.read_bytes()
            core = peel_float_io(ctx.graph)  # a float32 input/output its QUANTIZE/DEQUANTIZE convert is fine
            for role, idx in (("input", core.inputs), ("output", core.outputs)):
                if len(idx) != 1:
                    raise ModelFileError(f"{path} has {len(idx)} {role}s; edgecnn deploys models with one input "
                                         "and one output")
                if core.tensors[idx[0]].dtype != "int8":
                    _refuse_float_tflite(path, core)
                    raise ModelFileError(f"{path} has a {core.tensors[idx[0]].dtype} {role}; "
                                         "--from-model .tflite must be a full-integer int8 model",
                                         hint="give the .keras model instead and edgecnn quantizes it")
        else:
            raise ModelFileError(f"--from-model {path} is neither .keras nor .tflite")
        if data is None:  # a .tflite without a data set: any input shape; --inputs must fit the model
            if cfg.inputs:
                from deploy.verify.inputs import read_user_inputs

                ctx.user_inputs = read_user_inputs(cfg.inputs, peel_float_io(ctx.graph),
                                                   samples=cfg.golden_samples)
            return
        shape = (tuple(ctx.graph.tensors[ctx.graph.inputs[0]].shape[1:]) if ctx.model is None
                 else tuple(ctx.model.inputs[0].shape[1:]))
        classes = (ctx.graph.tensors[ctx.graph.outputs[0]].size if ctx.model is None
                   else int(ctx.model.outputs[0].shape[-1]))
        if shape != data.input_shape and data.with_input_shape(shape) is not None:  # the model's rank decides
            ctx.notes.append(f"data set {data.name}: samples of shape {data.input_shape} given to the model as {shape}")
            ctx.data = data = data.with_input_shape(shape)
        if shape != data.input_shape:
            raise ModelFileError(f"{path} takes inputs of shape {shape} but data set {data.name} has {data.input_shape}",
                                 hint="use the data set the model was trained on" + (
                                     ", or leave --dataset out: a .tflite then gets random int8 golden inputs "
                                     "(or your own with --inputs FILE.npy|.npz)" if ctx.model is None else ""))
        if classes != data.num_classes:
            raise ModelFileError(f"{path} has {classes} outputs but data set {data.name} has {data.num_classes} classes")
        return
    from models import build_model
    from toolkit.training import seed_everything

    if len(data.input_shape) != 3:
        raise ModelError(f"data set {data.name} holds samples of shape {data.input_shape}, and model {cfg.model} "
                         "takes images (height, width, channels)",
                         hint="give image data, or train your own model and build it with --from-model FILE.keras")
    seed_everything(cfg.seed)  # the initial weights come from the seed too
    ctx.model = build_model(cfg.model, data.input_shape, data.num_classes, conv=cfg.conv, groups=cfg.groups,
                            width=cfg.width, shuffle=cfg.shuffle)


def stage_train(ctx: Context) -> None:
    if ctx.cfg.from_model:
        return f"--from-model {ctx.cfg.from_model} is already trained"
    from toolkit.training import train

    summary = train(ctx.model, ctx.data, ctx.cfg, log=ctx.log)
    ctx.notes.append(summary.note(ctx.cfg))


def stage_quantize(ctx: Context) -> None:
    if ctx.model is None:
        return "the --from-model .tflite is already int8"
    from deploy.convert.quantize import convert_contained
    from deploy.engine.tflite_reader import read_tflite

    label = Path(ctx.cfg.from_model).name if ctx.cfg.from_model else ctx.model_name
    ctx.float_tflite, ctx.int8_tflite = convert_contained(
        ctx.model, ctx.data.x_calib, max_samples=ctx.cfg.calibration_samples, what=label,
        keras_file=Path(ctx.cfg.from_model) if ctx.cfg.from_model else None)  # a .keras: the child reads it as given
    ctx.graph = read_tflite(ctx.int8_tflite, name=f"the int8 model of {label}")


def stage_export(ctx: Context) -> None:
    if ctx.data is None:
        return _export_without_data(ctx)
    from deploy.convert.export import check_onnx, desktop_agreement, golden_arrays, onnx_from_float_tflite
    from toolkit.training import accuracy

    data, out = ctx.data, ctx.out
    float_out = None
    if ctx.model is not None:
        ctx.model.save(out / "model.keras")
        (out / "model_float.tflite").write_bytes(ctx.float_tflite)
        onnx = onnx_from_float_tflite(ctx.float_tflite)
        diff = check_onnx(onnx, ctx.model, data.x_test[:64])
        (out / "model.onnx").write_bytes(onnx)
        ctx.notes.append(f"ONNX matches Keras within {diff:.1e}")
        float_out = ctx.model.predict(data.x_test, verbose=0, batch_size=256)
    (out / "model_int8.tflite").write_bytes(ctx.int8_tflite)
    ctx.build.int8_tflite = ctx.int8_tflite
    arrays = golden_arrays(ctx.int8_tflite, data.x_test, data.y_test, float_out)
    ctx.accuracy = {"float": accuracy(float_out, data.y_test) if float_out is not None else None,
                    "int8": accuracy(arrays["outputs_int8"], data.y_test), "test_samples": int(len(data.y_test))}
    if float_out is None:
        ctx.accuracy["reason"] = f"float: not measured, {Path(ctx.cfg.from_model).name} holds only the int8 model"
    n = min(ctx.cfg.golden_samples, len(data.y_test))
    ctx.golden_info = {"source": "dataset", "dataset": data.name, "split": "test", "samples": int(n),
                       "labelled": True}
    ctx.golden = ctx.build.golden = {k: v[:n] for k, v in arrays.items()}
    np.savez_compressed(out / "golden.npz", **ctx.golden, class_labels=np.array(data.labels))
    if any(ch in label for label in data.labels for ch in "\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"):
        ctx.notes.append("labels.txt not written: a class name holds a line break (golden.npz keeps the names)")
    else:  # one class name per line, for edgecnn-run and anyone else
        (out / "labels.txt").write_text("".join(f"{s}\n" for s in data.labels), encoding="utf-8")
    ctx.desktop = desktop_agreement(ctx.int8_tflite, ctx.golden["inputs_int8"], ctx.golden["outputs_int8"])


def _export_without_data(ctx: Context) -> None:
    """golden.npz for a .tflite built without a data set: seeded random int8 inputs (or the user's --inputs) with
    TFLM's outputs; accuracy only when --inputs brought labels."""
    from deploy.convert.export import desktop_agreement, golden_from_int8, random_int8_inputs

    cfg, out = ctx.cfg, ctx.out
    (out / "model_int8.tflite").write_bytes(ctx.int8_tflite)
    ctx.build.int8_tflite = ctx.int8_tflite
    name = Path(cfg.from_model).name
    given = ctx.user_inputs
    if given is not None:
        ctx.golden = golden_from_int8(ctx.int8_tflite, given["inputs_int8"], given["inputs_float"], given["labels"],
                                      what=f"model {ctx.model_name} on --inputs {cfg.inputs}")
        info = given["inputs"]
        ctx.golden_info = {"source": "--inputs", "file": info["source"], "format": info["format"],
                           "samples": info["samples"], "given": info["given"], "labelled": info["labels"],
                           "clipped_values": info["clipped_values"]}
        ctx.notes.extend(given["caveats"])
    else:
        n = random_golden_samples(cfg)
        ctx.golden = golden_from_int8(ctx.int8_tflite, random_int8_inputs(ctx.graph, n, cfg.seed),
                                      what=f"model {ctx.model_name}")
        ctx.golden_info = {"source": "random", "seed": cfg.seed, "samples": n, "labelled": False,
                           "format": "int8, uniform in [-128, 127]"}
    ctx.build.golden = ctx.golden
    n = len(ctx.golden["inputs_int8"])
    labels = ctx.golden.get("labels")
    if labels is not None:
        top1 = ctx.golden["outputs_int8"].reshape(n, -1).argmax(axis=1)
        ctx.accuracy = {"float": None, "int8": round(float(np.mean(top1 == labels)), 6), "test_samples": n,
                        "measured_on": f"--inputs {cfg.inputs}, with its labels y",
                        "reason": f"float: not measured, {name} holds only the int8 model"}
    else:
        where = (f"--inputs {cfg.inputs}, which has no labels y" if given is not None else
                 f"{n} seeded random int8 inputs (--seed {cfg.seed})")
        ctx.accuracy = {"float": None, "int8": None, "test_samples": 0,
                        "reason": f"not measured: built without --dataset, on {where}; give --dataset (labelled "
                                  "data of the model's input shape) or --inputs FILE.npz with labels y to measure it"}
    np.savez_compressed(out / "golden.npz", **ctx.golden)
    ctx.desktop = desktop_agreement(ctx.int8_tflite, ctx.golden["inputs_int8"], ctx.golden["outputs_int8"])


def stage_android(ctx: Context) -> None:
    """The Android bundle (LiteRT and ONNX Runtime Mobile files, Kotlin class, parity) for --target android."""
    if ctx.target.kind != "android":
        return f"--target {ctx.target.name} builds no Android bundle"
    if ctx.model is None:  # an int8 .tflite: the int8 files it can give, and which it cannot
        from deploy.mobile.android import write_int8_android_bundle

        parity = write_int8_android_bundle(ctx.int8_tflite, ctx.golden, ctx.out / "android", ctx.model_name,
                                           data=ctx.data)
        ctx.android = parity
        ctx.notes.append(f"Android bundle (int8 only): {', '.join(parity['files'])}, checked against TFLM; "
                         f"not written: {_not_written_text(parity['not_written'])}; android/README.md says why")
        missed = [name for name, f in parity["files"].items() if not f["ok"]]
        if missed:
            ctx.notes.append(f"warning: Android parity goal missed by {', '.join(missed)} (see report.md)")
        return
    from deploy.mobile.android import write_android_bundle

    parity = write_android_bundle(ctx.model, ctx.data, ctx.out / "android", ctx.model_name,
                                  calibration_samples=ctx.cfg.calibration_samples,
                                  float_tflite=ctx.float_tflite, int8_tflite=ctx.int8_tflite)
    ctx.android = parity
    missed = [name for name, f in parity["files"].items() if not f["ok"]]
    if missed:  # an under-trained model can miss the int8 agreement goal; say so, the report has the figures
        ctx.notes.append(f"warning: Android parity goal missed by {', '.join(missed)} (see report.md)")


def _not_written_text(not_written: dict) -> str:
    """The Android files a .tflite build could not write, those needing the Keras model named together."""
    from deploy.mobile.android import NOT_FROM_INT8

    keras = [f for f in not_written if f in NOT_FROM_INT8]
    parts = [f"{', '.join(keras)} (they need the float Keras model: --from-model FILE.keras)"] if keras else []
    parts += [f"{f} ({why})" for f, why in not_written.items() if f not in NOT_FROM_INT8]
    return ", ".join(parts)


def stage_report(ctx: Context) -> None:
    from deploy.report.report import build_report, write_report
    from deploy.convert.tflm import measure_arena

    arena = measure_arena(ctx.int8_tflite, what=f"model {ctx.model_name}")
    engine_memory, refused = None, None
    if ctx.target.kind != "android":
        try:
            ctx.engine, engine_memory, fw = plan_engine_memory(ctx.graph, ctx.labels, ctx.target, ctx.build.board,
                                                               into=ctx.out, golden=ctx.golden)
            if fw is not None:  # written and linked in the build folder: code generation and --verify use them
                ctx.build.engine = ctx.engine.description
                ctx.build.firmware[fw.dir] = True
        except UnsupportedOpError as exc:  # fall back to TFLM: codegen writes firmware/tflm only
            refused = exc.message
            ctx.notes.append("firmware/tflm holds the model for TensorFlow Lite Micro (with its op resolver); its "
                             "flash is not measured, and nothing is verified (report.json: fallback)")
    ctx.report = build_report(
        ctx.graph, name=ctx.model_name, conv=None if ctx.cfg.from_model else ctx.cfg.conv,
        tflite_bytes=len(ctx.int8_tflite), arena=arena, accuracy=ctx.accuracy, desktop_check=ctx.desktop,
        keras_params=int(ctx.model.count_params()) if ctx.model is not None else None,
        labels=ctx.labels, target=ctx.target.name, golden_inputs=ctx.golden_info)
    if engine_memory is not None:
        ctx.report["memory"].update(engine_memory)
        if not engine_memory["fits"]:
            _refuse_oversize(ctx, engine_memory)
    if refused is not None:
        mark_fallback(ctx.report, refused)
    if ctx.android is not None:
        ctx.report["android"] = ctx.android
    write_report(ctx.report, ctx.out)
    ctx.build.report, ctx.build.plan = ctx.report, ctx.engine


def _trained_width(cfg: BuildConfig) -> float | None:
    """The --width a fit suggestion may scale: edgecnn's own architectures only (not a --from-model)."""
    return None if cfg.from_model else cfg.width


def _refuse_oversize(ctx: Context, memory: dict) -> None:
    """A model that does not fit its part fails the build, saying what would fit; --allow-oversize keeps it."""
    need, lim = Need(**memory["fit_need"]), memory["fit_limits"]
    err = ModelTooLargeError(memory["does_not_fit"], hint=fit_hint(need, lim, _trained_width(ctx.cfg)), need=need,
                             limits=lim, part=memory["fit_part"])
    if not ctx.cfg.allow_oversize:
        raise err
    ctx.notes.append(f"warning: {err.message}; the files are kept (--allow-oversize), but the firmware was not "
                     "linked and nothing is verified")


def check_fit_before_training(ctx: Context) -> None:
    """Fail before training when even a lower bound of the model's memory does not fit the part."""
    lim = limits(ctx.target, ctx.build.board)
    if lim is None or ctx.model is None or ctx.cfg.allow_oversize:
        return
    need = keras_lower_bound(ctx.model, ctx.target)
    err = fit_error(f"model {ctx.model_name}", part_name(ctx.target, ctx.build.board or get_board(ctx.target)), need,
                    lim, _trained_width(ctx.cfg))
    if err is not None:
        err.message += " (checked before training, from the model's weights and largest activation)"
        raise err


def stage_codegen(ctx: Context) -> None:
    if ctx.target.kind == "android":
        return "the android stage wrote the app bundle; --target android has no C"
    from deploy.engine.codegen import write_engine
    from deploy.devices.tflm_codegen import write_tflm_arrays

    firmware = ctx.out / "firmware"
    write_tflm_arrays(ctx.graph, ctx.int8_tflite, firmware / "tflm", ctx.labels,
                      ctx.report["memory"]["tflm_arena_bytes"], ctx.model_name, golden=ctx.golden,
                      target=ctx.target)
    if ctx.engine is None:  # the engine refused a layer (report.json memory.engine_refused): TFLM arrays only
        return
    if ctx.build.engine is None:  # not yet written by the report stage (which does so when it links the firmware)
        write_engine(ctx.engine, firmware / "engine", ctx.target)
        ctx.build.engine = ctx.engine.description
    if ctx.target.kind == "arduino":
        from deploy.devices.arduino import write_arduino_library

        folder, zipped = write_arduino_library(ctx.out, engine=ctx.engine.description, model=ctx.model_name,
                                               golden=ctx.golden)
        ctx.notes.append(f"Arduino library: {folder.relative_to(ctx.out)}/ and {zipped.relative_to(ctx.out)} "
                         "(Sketch > Include Library > Add .ZIP Library)")
    if ctx.target.kind == "mcu":
        from deploy.devices.firmware import firmware_dir, generate_firmware

        if not ctx.build.firmware.get(firmware_dir(ctx.out, ctx.target, ctx.build.board)):
            fdir = generate_firmware(ctx.out, ctx.target, ctx.build.board, golden=ctx.golden,
                                     engine=ctx.build.engine)
            ctx.build.firmware[fdir] = True  # rendered: --verify qemu links these files, it does not render them again


def stage_verify(ctx: Context) -> None:
    """--verify host|qemu: run every golden input through the generated engine; a mismatch fails the build."""
    if ctx.cfg.verify == "none":
        return "--verify none (run `edgecnn verify OUT --device host|qemu` later, or build with --verify)"
    if ctx.target.kind == "android":
        raise ConfigError(f"--verify {ctx.cfg.verify} checks generated C; --target android has none",
                          hint="use --verify none with --target android (the bundle has its own parity check)")
    if ctx.cfg.verify == "qemu" and ctx.target.kind != "mcu":
        raise ConfigError(f"--verify qemu needs a Cortex-M target, not {ctx.target.name}")
    if ctx.engine is None:
        return (f"--verify {ctx.cfg.verify}: no engine was generated (the TFLM fallback, see "
                "memory.engine_refused in report.json), and TFLM is the reference itself")
    from deploy.verify.device import verify_device

    device = "host" if ctx.cfg.verify == "host" else ctx.target
    ctx.verify = verify_device(ctx.build, device, board=ctx.build.board, check=True)
    ctx.notes.append(f"verified on {ctx.verify['device']}: bit-exact {ctx.verify['bit_exact']:.4f} on "
                     f"{ctx.verify['samples']} samples")
    ctx.notes.extend(f"caveat ({ctx.verify['device']}): {c}" for c in ctx.verify.get("caveats") or ())


CHANCE_MARGIN = 0.05  # int8 accuracy this close to chance gets a warning


def chance_accuracy(labels) -> float:
    """Accuracy of always answering the most common test label (1/classes for a balanced test set)."""
    counts = np.bincount(np.asarray(labels).astype(np.int64))
    return float(counts.max() / counts.sum()) if counts.size else 0.0


def check_between_stages(ctx: Context, stage: str) -> None:
    """Cheap sanity checks so a broken artifact stops the build where it appeared."""
    if stage == "model":
        check_fit_before_training(ctx)
    if stage == "quantize" and ctx.graph is not None and not ctx.graph.operators:
        raise ModelError("the int8 model has no operators")
    if stage == "export":
        acc = ctx.accuracy
        if acc.get("int8") is None:  # not measured (a .tflite without labelled inputs): the report says why
            return
        y = ctx.data.y_test if ctx.data is not None else ctx.golden["labels"]
        classes = ctx.data.num_classes if ctx.data is not None else int(ctx.golden["outputs_int8"][0].size)
        chance = chance_accuracy(y)
        if acc["int8"] < chance + CHANCE_MARGIN:
            ctx.notes.append(f"warning: int8 accuracy {acc['int8']:.3f} is within {CHANCE_MARGIN * 100:.0f} points "
                             f"of chance ({chance:.3f}, always guessing the most common of "
                             f"{classes} classes): the model has not learned the task; bit-exact "
                             "verification only proves the device matches TFLM, not that the model is useful "
                             "(train longer, check the labels, or use a larger model)")
        if acc.get("float") is not None and acc["int8"] < acc["float"] - 0.05:
            ctx.notes.append(f"warning: int8 accuracy {acc['int8']:.3f} is more than 5 points below float "
                             f"{acc['float']:.3f}")
    if stage == "report":
        json.dumps(ctx.report)  # must serialise
