"""Finds the op patterns the engine runs fused, line by line, and lowers them (residual blocks).

A residual block of the int8 graph

    X -> CONV_2D a (3x3, stride 1, SAME) -> T -> CONV_2D b (3x3, stride 1, SAME) -> U -> ADD(X, U) -> Y

(either ADD input order, any fused activations) where T and U have no other readers and X is read by a
and the ADD only runs as one kernel, ecnn_resblock: T is computed row by row into a ring of 3 rows, U one
row at a time, and Y row r is written over X row r once T row r+1 exists. T and U never exist whole, and
Y takes X's storage: for ResNet-8's first stack that removes the 32x32x16 skip-tensor floor of layer-by-
layer execution. The result is the same, bit for bit, as running the three ops one after another (the
kernel uses the same fast-path sums and TFLM's ADD). Anything that does not match runs op by op.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from deploy.engine.c_format import c_int
from deploy.engine.ops.binary import lower_add
from deploy.engine.ops.common import nhwc
from deploy.engine.ops.conv import lower_conv
from deploy.engine.ops.gemm import CONV_FILES
from deploy.engine.ops.lowered import CStruct, In, Lowered, Scratch, params_call
from deploy.engine.ops.registry import OpContext, register_kernels
from deploy.engine.tflite_reader import Graph, Operator


RESBLOCK_KERNELS = register_kernels("the fused residual block", {"ecnn_resblock": ("ecnn_resblock.c", *CONV_FILES,
                                                                                   "ecnn_add.c")})


@dataclass
class FusedOp:
    """The step a fused pattern runs as: planned like one operator reading `inputs`, writing `outputs`."""

    index: int  # the index of the pattern's last operator (the step's place in the model order)
    op: str
    name: str
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    parts: tuple[Operator, ...] = ()
    options: dict = field(default_factory=dict)


@dataclass(frozen=True)
class ResidualBlock:
    a: Operator
    b: Operator
    add: Operator
    x: int  # tensor indices
    t: int
    u: int
    y: int
    x_first: bool  # X is the ADD's first input


def _conv3x3_same(graph: Graph, op: Operator) -> bool:
    """A stride-1, undilated 3x3 SAME convolution with groups 1 whose output has its input's height and width."""
    if op.op != "CONV_2D" or len(op.inputs) < 2 or op.inputs[0] < 0 or op.inputs[1] < 0:
        return False
    opt = op.options
    x, f, o = graph.tensors[op.inputs[0]], graph.tensors[op.inputs[1]], graph.tensors[op.outputs[0]]
    if len(x.shape) != 4 or len(o.shape) != 4 or len(f.shape) != 4 or x.shape[0] != 1:
        return False
    return (opt.get("padding") == "SAME" and (opt.get("stride_h", 1) or 1) == 1 and (opt.get("stride_w", 1) or 1) == 1
            and (opt.get("dilation_h", 1) or 1) == 1 and (opt.get("dilation_w", 1) or 1) == 1
            and tuple(f.shape[1:3]) == (3, 3) and f.shape[3] == x.shape[3] and f.shape[0] == o.shape[3]
            and tuple(o.shape[1:3]) == tuple(x.shape[1:3]))


def find_residual_blocks(graph: Graph) -> list[ResidualBlock]:
    """Every residual block of the graph that ecnn_resblock can run (see the module docstring)."""
    readers: dict[int, list[int]] = {}
    producer: dict[int, Operator] = {}
    for op in graph.operators:
        for i in op.inputs:
            if i >= 0:
                readers.setdefault(i, []).append(op.index)
        for i in op.outputs:
            producer[i] = op
    outs = set(graph.outputs)
    blocks = []
    for add in graph.operators:
        if add.op != "ADD" or len(add.inputs) != 2 or len(add.outputs) != 1:
            continue
        for xpos in (0, 1):
            x, u = add.inputs[xpos], add.inputs[1 - xpos]
            if x < 0 or u < 0 or x == u or graph.tensors[x].is_constant:
                continue
            b = producer.get(u)
            if b is None or not _conv3x3_same(graph, b):
                continue
            t = b.inputs[0]
            a = producer.get(t)
            if a is None or not _conv3x3_same(graph, a) or a.inputs[0] != x:
                continue
            if not (a.index < b.index < add.index):
                continue
            if (sorted(readers.get(x, [])) != sorted([a.index, add.index]) or readers.get(t) != [b.index]
                    or readers.get(u) != [add.index] or {x, t, u} & outs):
                continue
            if len({tuple(graph.tensors[i].shape) for i in (x, u, add.outputs[0])}) != 1:
                continue
            blocks.append(ResidualBlock(a, b, add, x, t, u, add.outputs[0], x_first=(xpos == 0)))
            break
    return blocks


def emit_residual_block(graph: Graph, blk: ResidualBlock, idents: dict[int, str]) -> Lowered | None:
    """The fused step for one block, or None when a convolution does not take the fast path (then the
    block runs op by op)."""
    la = lower_conv(OpContext(graph, blk.a, idents[blk.a.index]))
    lb = lower_conv(OpContext(graph, blk.b, idents[blk.b.index]))
    if la.kernel != "ecnn_conv2d_fast" or lb.kernel != "ecnn_conv2d_fast":
        return None
    ladd = lower_add(OpContext(graph, blk.add, idents[blk.add.index]))
    h, w, c = nhwc(graph.tensors[blk.x])
    ct = nhwc(graph.tensors[blk.t])[2]
    ident = idents[blk.add.index]
    struct = CStruct("ecnn_resblock_params", f"{ident}_block",
                     [("a", f"&{la.structs[0].name}"), ("b", f"&{lb.structs[0].name}"),
                      ("add", f"&{ladd.structs[0].name}"), ("x_first", c_int(int(blk.x_first)))])
    return Lowered([params_call("ecnn_resblock", struct, In(0), Scratch())],
                   la.arrays + lb.arrays + ladd.arrays, la.structs + lb.structs + ladd.structs + [struct],
                   inplace=0, scratch=3 * w * ct + w * c + 2 * 9 * max(c, ct),
                   instances=list(dict.fromkeys(la.instances + lb.instances)))


def fused_op(blk: ResidualBlock) -> FusedOp:
    return FusedOp(index=blk.add.index, op="RESIDUAL_BLOCK", name=blk.add.name, inputs=(blk.x,), outputs=(blk.y,),
                   parts=(blk.a, blk.b, blk.add))


__all__ = ["FusedOp", "ResidualBlock", "find_residual_blocks", "emit_residual_block", "fused_op"]
