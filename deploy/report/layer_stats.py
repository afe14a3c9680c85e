"""Per-layer cost of an int8 graph: parameters, MACs, bytes, weight reuse and what sharing saves."""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from deploy.engine.tflite_reader import Graph, Operator

WEIGHTED_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "TRANSPOSE_CONV")


@dataclass(frozen=True)
class LayerStats:
    name: str
    op: str
    params: int
    macs: int
    weight_bytes: int
    output_bytes: int
    output_shape: tuple
    reuse: int | None  # how many times each weight is used per inference
    fc_equivalent_params: int | None  # a dense layer from this input to this output
    unshared_equivalent_params: int | None  # a locally connected layer: one kernel per output position

    def as_dict(self) -> dict:
        d = asdict(self)
        d["output_shape"] = list(self.output_shape)
        return d


def _size(shape) -> int:
    return int(np.prod(shape, dtype=np.int64)) if len(shape) else 1


def layer_stats(graph: Graph, op: Operator) -> LayerStats:
    t = graph.tensors
    consts = [t[i] for i in op.inputs if i >= 0 and t[i].is_constant]
    out = t[op.outputs[0]]
    weight_bytes = sum(c.nbytes for c in consts if c.dtype in ("int8", "int32", "float32", "int16", "int64")
                       and op.op in WEIGHTED_OPS)
    params = macs = 0
    reuse = fc_eq = unshared = None
    if op.op in WEIGHTED_OPS and len(op.inputs) > 1 and op.inputs[1] >= 0:
        w = t[op.inputs[1]]
        b = t[op.inputs[2]] if len(op.inputs) > 2 and op.inputs[2] >= 0 else None
        n_w, n_b = w.size, (b.size if b is not None else 0)
        params = n_w + n_b
        in_size = t[op.inputs[0]].size
        out_size = out.size
        if op.op == "FULLY_CONNECTED":
            macs = n_w
            positions = 1
        else:  # conv-like: every weight is applied once per output position
            positions = _size(out.shape[1:3])
            macs = n_w * positions if op.op != "TRANSPOSE_CONV" else n_w * _size(t[op.inputs[2]].shape[1:3])
        reuse = positions
        fc_eq = in_size * out_size + out_size
        unshared = n_w * positions + (n_b * positions if n_b else 0)
    return LayerStats(name=op.name, op=op.op, params=params, macs=macs, weight_bytes=weight_bytes,
                      output_bytes=out.nbytes, output_shape=tuple(out.shape), reuse=reuse,
                      fc_equivalent_params=fc_eq, unshared_equivalent_params=unshared)


def all_layer_stats(graph: Graph) -> list[LayerStats]:
    return [layer_stats(graph, op) for op in graph.operators]


def live_activation_bytes(graph: Graph) -> list[int]:
    """Bytes of activations alive while each op runs (a tensor lives from its producer to its last reader),
    counting the model input and output; the lower bound for any planner that does not work in place."""
    n_ops = len(graph.operators)
    first: dict[int, int] = {i: 0 for i in graph.inputs}
    last: dict[int, int] = {i: n_ops - 1 for i in graph.outputs}
    for k, op in enumerate(graph.operators):
        for i in op.outputs:
            first.setdefault(i, k)
        for i in op.inputs:
            if i >= 0 and not graph.tensors[i].is_constant:
                last[i] = max(last.get(i, k), k)
    live = []
    for k in range(n_ops):
        live.append(sum(graph.tensors[i].nbytes for i in first
                        if first[i] <= k <= last.get(i, first[i])))
    return live
