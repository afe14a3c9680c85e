"""Graph clean-ups before the engine checks and lowers a model: what TFLite leaves that no kernel needs to run.

A Keras model converted with a dynamic batch computes its Flatten's target shape at run time: SHAPE of the
activation, STRIDED_SLICE of the batch, PACK with the flat size, into RESHAPE's second input. The engine's
RESHAPE is an alias whose shape is the output tensor's (static in the file: batch 1), so that chain computes
nothing the engine uses. drop_shape_operands detaches RESHAPE's computed shape operand when the output shape is
static, and drop_dead_ops then removes every op whose outputs nothing reads. TFLM runs the file unchanged; the
results are the same because the removed ops only fed the shape operand.

A model converted with float32 input and output (the converter's default for full-integer quantization) starts
with QUANTIZE and ends with DEQUANTIZE; peel_float_io leaves the int8 core between them to the kernels, and
float_io tells code generation the two conversions, which the engine's ecnn_run does in TFLM's float arithmetic.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

from deploy.engine.tflite_reader import Graph


def drop_shape_operands(graph: Graph) -> Graph:
    """RESHAPE with a computed (non-constant) shape operand and a static output shape: drop the operand."""
    ops = []
    for op in graph.operators:
        if (op.op == "RESHAPE" and len(op.inputs) > 1 and op.inputs[1] >= 0
                and not graph.tensors[op.inputs[1]].is_constant
                and all(d > 0 for d in graph.tensors[op.outputs[0]].shape)):
            op = replace(op, inputs=(op.inputs[0],))
        ops.append(op)
    return replace(graph, operators=tuple(ops))


def drop_dead_ops(graph: Graph) -> Graph:
    """Remove ops none of whose outputs is read by another op or is a model output (repeated to a fixpoint)."""
    ops = list(graph.operators)
    while True:
        read = set(graph.outputs)
        for op in ops:
            read.update(i for i in op.inputs if i >= 0)
        live = [op for op in ops if any(o in read for o in op.outputs)]
        if len(live) == len(ops):
            return replace(graph, operators=tuple(ops))
        ops = live


@dataclass(frozen=True)
class FloatIO:
    """A float32 model input quantized by the model's first QUANTIZE, or a float32 model output made by its last
    DEQUANTIZE: the int8 tensor on the engine's side and its quantization (TFLM's float arithmetic, in C, in
    edgecnn_model.c's ecnn_run)."""

    float_tensor: int
    int8_tensor: int
    scale: float
    zero_point: int


def _per_tensor_int8(graph: Graph, i: int) -> bool:
    t = graph.tensors[i]
    return t.dtype == "int8" and t.quant is not None and t.quant.scale.size == 1 and not t.is_constant


def float_io(graph: Graph) -> tuple[FloatIO | None, FloatIO | None]:
    """(input, output) float32 boundaries the engine runs around its int8 core, None where the model's own
    input or output is not such a boundary (int8 already, or a float tensor that other ops use)."""
    if len(graph.inputs) != 1 or len(graph.outputs) != 1:
        return None, None
    readers: dict[int, list] = {}
    for op in graph.operators:
        for i in op.inputs:
            readers.setdefault(i, []).append(op)
    writer = {o: op for op in graph.operators for o in op.outputs}
    fin = fout = None
    i, o = graph.inputs[0], graph.outputs[0]
    if graph.tensors[i].dtype == "float32" and i != o and len(readers.get(i, [])) == 1:
        q = readers[i][0]
        if q.op == "QUANTIZE" and q.inputs == (i,) and len(q.outputs) == 1 and _per_tensor_int8(graph, q.outputs[0]):
            t = graph.tensors[q.outputs[0]]
            fin = FloatIO(i, q.outputs[0], float(t.quant.scale[0]), int(t.quant.zero_point[0]))
    d = writer.get(o)
    if (graph.tensors[o].dtype == "float32" and d is not None and d.op == "DEQUANTIZE" and len(d.inputs) == 1
            and _per_tensor_int8(graph, d.inputs[0]) and d.inputs[0] != o):
        t = graph.tensors[d.inputs[0]]
        fout = FloatIO(o, d.inputs[0], float(t.quant.scale[0]), int(t.quant.zero_point[0]))
    return fin, fout


def peel_float_io(graph: Graph) -> Graph:
    """The int8 core of a model with float32 input and/or output (the TFLite converter's default for a full-integer
    model without inference_input_type/inference_output_type int8): its input QUANTIZE and output DEQUANTIZE
    removed, the core's int8 tensors made the model's input and output. The engine runs the core on int8
    (ecnn_invoke) and the two conversions in ecnn_run; TFLM runs the file unchanged."""
    fin, fout = float_io(graph)
    if fin is None and fout is None:
        return graph
    ops = [op for op in graph.operators
           if not (fin is not None and op.outputs == (fin.int8_tensor,) and op.op == "QUANTIZE")
           and not (fout is not None and op.outputs == (fout.float_tensor,) and op.op == "DEQUANTIZE")]
    return replace(graph, operators=tuple(ops),
                   inputs=(fin.int8_tensor,) if fin is not None else graph.inputs,
                   outputs=(fout.int8_tensor,) if fout is not None else graph.outputs)


def simplify(graph: Graph) -> Graph:
    """The clean-ups above, in order; the graph unchanged when there is nothing to clean."""
    return drop_dead_ops(drop_shape_operands(peel_float_io(graph)))
