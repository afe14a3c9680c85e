"""Graph clean-ups before the engine checks and lowers a model: what TFLite leaves that no kernel needs to run.

A Keras model converted with a dynamic batch computes its Flatten's target shape at run time: SHAPE of the
activation, STRIDED_SLICE of the batch, PACK with the flat size, into RESHAPE's second input. The engine's
RESHAPE is an alias whose shape is the output tensor's (static in the file: batch 1), so that chain computes
nothing the engine uses. drop_shape_operands detaches RESHAPE's computed shape operand when the output shape is
static, and drop_dead_ops then removes every op whose outputs nothing reads. TFLM runs the file unchanged; the
results are the same because the removed ops only fed the shape operand.
"""
from __future__ import annotations

from dataclasses import replace

from deploy.tflite_reader import Graph


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


def simplify(graph: Graph) -> Graph:
    """The clean-ups above, in order; the graph unchanged when there is nothing to clean."""
    return drop_dead_ops(drop_shape_operands(graph))
