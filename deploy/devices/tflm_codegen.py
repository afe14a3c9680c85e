"""C arrays for TensorFlow Lite Micro users: the model flatbuffer, its measured arena, labels and op resolver."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from deploy.engine.c_format import GENERATED_HEADER, c_bytes, c_comment, c_float, c_int_array_body, c_string
from deploy.engine.templates import render
from deploy.engine.tflite_reader import Graph
from deploy.devices.toolchain import SIZE_CPU, cpu_flags
from toolkit.errors import UnsupportedOpError
from toolkit.targets import Target, get_target

# TFLite builtin op -> MicroMutableOpResolver method (TFLM's micro_mutable_op_resolver.h).
RESOLVER_METHODS = {
    "ADD": "AddAdd", "AVERAGE_POOL_2D": "AddAveragePool2D", "CONCATENATION": "AddConcatenation",
    "CONV_2D": "AddConv2D", "DEPTHWISE_CONV_2D": "AddDepthwiseConv2D", "DEQUANTIZE": "AddDequantize",
    "FULLY_CONNECTED": "AddFullyConnected", "LOGISTIC": "AddLogistic", "MAX_POOL_2D": "AddMaxPool2D",
    "MUL": "AddMul", "RELU": "AddRelu", "RELU6": "AddRelu6", "RESHAPE": "AddReshape", "SOFTMAX": "AddSoftmax",
    "PAD": "AddPad", "PADV2": "AddPadV2", "MEAN": "AddMean", "QUANTIZE": "AddQuantize", "SUB": "AddSub",
    "TRANSPOSE": "AddTranspose", "SQUEEZE": "AddSqueeze", "TANH": "AddTanh", "HARD_SWISH": "AddHardSwish",
    "LEAKY_RELU": "AddLeakyRelu", "STRIDED_SLICE": "AddStridedSlice", "SHAPE": "AddShape", "PACK": "AddPack",
    "UNPACK": "AddUnpack", "SPLIT": "AddSplit", "SPLIT_V": "AddSplitV", "MAXIMUM": "AddMaximum",
    "MINIMUM": "AddMinimum", "RESIZE_NEAREST_NEIGHBOR": "AddResizeNearestNeighbor", "SUM": "AddSum",
    "REDUCE_MAX": "AddReduceMax", "TRANSPOSE_CONV": "AddTransposeConv", "EXPAND_DIMS": "AddExpandDims",
    "GATHER": "AddGather", "BATCH_TO_SPACE_ND": "AddBatchToSpaceNd", "SPACE_TO_BATCH_ND": "AddSpaceToBatchNd",
}
ARENA_MARGIN = 1.25  # the host-measured arena holds 64-bit structs; the margin also covers alignment


def write_tflm_arrays(graph: Graph, tflite: bytes, out_dir: Path, labels, arena_total: int, model_name: str,
                      golden: dict | None = None, target: Target | None = None) -> list[Path]:
    """Write model_data.h/.c and op_resolver.h into out_dir (firmware/tflm/); with golden (inputs_int8,
    outputs_int8), also the example main.cc that classifies golden input 0 and its Makefile, whose default
    CPU_FLAGS are `target`'s (deploy.devices.toolchain.cpu_flags: Cortex-M4's for a target without any, or None)."""
    ops = []
    for name in graph.op_names():
        if name not in RESOLVER_METHODS:
            layer = next(o.name for o in graph.operators if o.op == name)
            raise UnsupportedOpError(f"op {name} (layer {layer}) has no TensorFlow Lite Micro registration known "
                                     "to edgecnn", hint="replace that layer")
        ops.append((name, RESOLVER_METHODS[name]))
    inp, out = graph.tensors[graph.inputs[0]], graph.tensors[graph.outputs[0]]
    iq, oq = inp.quant, out.quant
    labels = list(labels) if labels else [str(i) for i in range(out.size)]
    ctx = dict(header=GENERATED_HEADER, comment=c_comment(f"model {model_name}"), prefix="edgecnn", PREFIX="EDGECNN",
               arena_total=arena_total, arena_size=(int(arena_total * ARENA_MARGIN) + 15) // 16 * 16,
               arena_note="host build, 64-bit pointers",
               input_scale=c_float(iq.scale[0] if iq else 0), input_zero_point=int(iq.zero_point[0]) if iq else 0,
               output_scale=c_float(oq.scale[0] if oq else 0), output_zero_point=int(oq.zero_point[0]) if oq else 0,
               input_size=inp.size, output_size=out.size, input_dims=list(inp.shape[1:]),
               labels=[c_string(str(s)) for s in labels], ops=ops)
    out_dir.mkdir(parents=True, exist_ok=True)
    files = {
        "model_data.h": render("tflm/model_data.h.j2", guard="EDGECNN_MODEL_DATA_H", **ctx),
        "model_data.c": render("tflm/model_data.c.j2", data=c_bytes(tflite), data_len=len(tflite), **ctx),
        "op_resolver.h": render("tflm/op_resolver.h.j2", guard="EDGECNN_OP_RESOLVER_H", **ctx),
    }
    if golden is not None and len(golden.get("inputs_int8", ())):
        x = np.asarray(golden["inputs_int8"][0], dtype=np.int8).reshape(-1)
        expected = int(np.argmax(np.asarray(golden["outputs_int8"][0]).reshape(-1)))
        files["main.cc"] = render("tflm/main.cc.j2", input_body=c_int_array_body([int(v) for v in x]),
                                  expected=expected, expected_name=str(labels[expected]).replace('"', "'"), **ctx)
        flags = cpu_flags(target if target is not None else get_target(SIZE_CPU))[1]
        files["Makefile"] = render("tflm/Makefile.j2", cpu_flags=" ".join(flags), **ctx)
    paths = []
    for fname, text in files.items():
        p = out_dir / fname
        p.write_text(text, encoding="utf-8")
        paths.append(p)
    return paths
