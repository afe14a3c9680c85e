"""Export: writes model.keras, the TFLite files, model.onnx and golden.npz (inputs with TFLM reference outputs)."""
from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from deploy.engine.tflite_reader import Graph, read_tflite
from toolkit.errors import ModelError


def _core(graph: Graph) -> Graph:
    """The int8 core: a model with float32 input/output (its first QUANTIZE, last DEQUANTIZE) without them."""
    from deploy.engine.graph_passes import peel_float_io

    return peel_float_io(graph)


def quantize_input(x: np.ndarray, graph: Graph) -> np.ndarray:
    """Float model inputs -> the int8 model's input, with its scale and zero point (TFLite rounding); for a model
    with a float32 input, the int8 tensor its QUANTIZE makes."""
    core = _core(graph)
    q = core.tensors[core.inputs[0]].quant
    if q is None:
        raise ModelError(f"{graph.source}: the model input is not quantized", hint="give a full-integer int8 model")
    scaled = np.round(np.asarray(x, np.float32) / q.scale[0]) + q.zero_point[0]
    return np.clip(scaled, -128, 127).astype(np.int8)


def dequantize_output(y: np.ndarray, graph: Graph) -> np.ndarray:
    core = _core(graph)
    q = core.tensors[core.outputs[0]].quant
    return (y.astype(np.float32) - q.zero_point[0]) * q.scale[0]


def reference_inputs(graph: Graph, x_int8: np.ndarray) -> np.ndarray:
    """What the .tflite itself takes for the int8 core inputs x_int8: x_int8, or for a float32 input the floats
    (q - zero point) * scale, which its QUANTIZE (TFLM: float32 division, round half away) maps back to x_int8."""
    from deploy.engine.graph_passes import float_io

    fin, _ = float_io(graph)
    x_int8 = np.ascontiguousarray(x_int8, dtype=np.int8)
    if fin is None:
        return x_int8
    scale = np.float32(fin.scale)
    x = (x_int8.astype(np.float32) - np.float32(fin.zero_point)) * scale
    r = x / scale
    back = np.clip(np.trunc(r + np.copysign(np.float32(0.5), r)) + fin.zero_point, -128, 127)
    if not np.array_equal(back.astype(np.int8), x_int8):  # cannot happen for |q - zp| <= 255; checked anyway
        raise ModelError(f"{graph.source}: float inputs for the int8 golden inputs do not quantize back to them",
                         hint="report this model")
    return x


def core_outputs(graph: Graph, y: np.ndarray) -> np.ndarray:
    """The int8 core's outputs from the .tflite's own: y, or for a float32 output (its DEQUANTIZE made
    scale * (q - zero point)) q again, exactly (the float is within an ulp of an integer multiple of scale)."""
    from deploy.engine.graph_passes import float_io

    _, fout = float_io(graph)
    if fout is None:
        return np.asarray(y).astype(np.int8)
    q = np.round(np.asarray(y, np.float64) / np.float64(np.float32(fout.scale))) + fout.zero_point
    return np.clip(q, -128, 127).astype(np.int8)


def onnx_from_float_tflite(float_tflite: bytes, opset: int = 17) -> bytes:
    """ONNX through the float TFLite file: tf2onnx's Keras-3 path emits an invalid graph for grouped
    convolutions (a StatefulPartitionedCall node), its TFLite path is correct for all three conv kinds."""
    import tf2onnx

    from toolkit.capture import quiet_native

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model_float.tflite"
        path.write_bytes(float_tflite)
        try:
            with quiet_native():
                proto, _ = tf2onnx.convert.from_tflite(str(path), opset=opset)
        except Exception as exc:  # tf2onnx raises assorted types; name the stage and the cause
            raise ModelError(f"tf2onnx could not convert the model to ONNX: {str(exc).splitlines()[0][:200]}",
                             hint="use layers with an ONNX equivalent") from None
    return proto.SerializeToString()


def check_onnx(onnx_bytes: bytes, keras_model, x: np.ndarray, tol: float = 1e-4) -> float:
    """Run the ONNX model in onnxruntime on `x` one sample at a time; return max |ONNX - Keras|."""
    import onnxruntime as ort

    sess = ort.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    got = np.concatenate([sess.run(None, {name: x[i:i + 1].astype(np.float32)})[0] for i in range(len(x))])
    want = keras_model.predict(x, verbose=0, batch_size=256)
    diff = float(np.max(np.abs(got - want))) if len(x) else 0.0
    if diff > tol:
        raise ModelError(f"the ONNX export differs from Keras by {diff:.2e} (more than {tol:.0e})",
                         hint="report this model; the ONNX file was not written")
    return diff


def golden_arrays(int8_tflite: bytes, x_float: np.ndarray, labels: np.ndarray,
                  float_outputs: np.ndarray | None) -> dict[str, np.ndarray]:
    """Test inputs quantized for the int8 model, their TFLM reference outputs, labels and float outputs."""
    from deploy.convert.tflm import run_tflm

    graph = read_tflite(int8_tflite)
    x_int8 = quantize_input(x_float, graph)
    ref = core_outputs(graph, run_tflm(int8_tflite, reference_inputs(graph, x_int8)))
    arrays = {"inputs_float": x_float.astype(np.float32), "inputs_int8": x_int8,
              "outputs_int8": ref.reshape(len(x_int8), -1).astype(np.int8), "labels": labels.astype(np.int64)}
    if float_outputs is not None:
        arrays["outputs_float"] = float_outputs.astype(np.float32)
    return arrays


def random_int8_inputs(graph: Graph, samples: int, seed: int) -> np.ndarray:
    """`samples` int8 model inputs drawn uniformly from [-128, 127] with `seed`: golden inputs for a model that
    came without a data set (they exercise every kernel, saturation included, but carry no labels)."""
    shape = tuple(int(s) for s in graph.tensors[graph.inputs[0]].shape[1:])
    return np.random.default_rng(seed).integers(-128, 128, (samples, *shape), dtype=np.int8)


def golden_from_int8(int8_tflite: bytes, x_int8: np.ndarray, x_float: np.ndarray | None = None,
                     labels: np.ndarray | None = None, what: str = "the model") -> dict[str, np.ndarray]:
    """golden.npz's arrays for int8 inputs given as they are: TFLM's reference outputs, the inputs as floats
    (`x_float`, else dequantized with the input scale and zero point) and the labels when there are any."""
    from deploy.convert.tflm import run_tflm

    graph = read_tflite(int8_tflite)
    core = _core(graph)
    q = core.tensors[core.inputs[0]].quant
    x_int8 = np.ascontiguousarray(x_int8, dtype=np.int8)
    if x_float is None:
        x_float = (x_int8.astype(np.float32) - q.zero_point[0]) * q.scale[0]
    ref = core_outputs(graph, run_tflm(int8_tflite, reference_inputs(graph, x_int8), what=what))
    arrays = {"inputs_float": np.asarray(x_float, np.float32), "inputs_int8": x_int8,
              "outputs_int8": ref.reshape(len(x_int8), -1).astype(np.int8)}
    if labels is not None:
        arrays["labels"] = np.asarray(labels).astype(np.int64)
    return arrays


def desktop_agreement(int8_tflite: bytes, inputs_int8: np.ndarray, reference: np.ndarray) -> dict:
    """Desktop LiteRT with the reference op resolver (not XNNPACK) against TFLM, sample by sample."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    interp = Interpreter(model_content=int8_tflite,
                         experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
    interp.allocate_tensors()
    inp, out = interp.get_input_details()[0], interp.get_output_details()[0]
    graph = read_tflite(int8_tflite)
    got = []
    for x in reference_inputs(graph, inputs_int8):
        interp.set_tensor(inp["index"], x.reshape(inp["shape"]).astype(inp["dtype"]))
        interp.invoke()
        got.append(interp.get_tensor(out["index"]).reshape(-1))
    got = core_outputs(graph, np.stack(got)).astype(np.int32)
    ref = reference.reshape(len(got), -1).astype(np.int32)
    same = np.all(got == ref, axis=1)
    return {"runtime": "ai-edge-litert (BUILTIN_REF)", "samples": int(len(got)), "bit_exact_samples": int(same.sum()),
            "bit_exact": float(same.mean()) if len(got) else 1.0,
            "max_abs_diff_lsb": int(np.max(np.abs(got - ref))) if len(got) else 0}


def run_litert(path: Path, x: np.ndarray) -> np.ndarray:
    """Outputs of a .tflite in desktop LiteRT (its default CPU kernels, XNNPACK where it applies: what a phone
    runs), one row per input of x, flattened; inputs are cast to the model's input dtype."""
    from ai_edge_litert.interpreter import Interpreter

    from toolkit.capture import capture_fds

    got = []
    with capture_fds():  # LiteRT announces its XNNPACK delegate on stderr
        interp = Interpreter(model_path=str(path))
        interp.allocate_tensors()
        inp, out = interp.get_input_details()[0], interp.get_output_details()[0]
        for xi in x:
            interp.set_tensor(inp["index"], xi.reshape(inp["shape"]).astype(inp["dtype"]))
            interp.invoke()
            got.append(interp.get_tensor(out["index"]).reshape(-1).copy())
    return np.stack(got)

