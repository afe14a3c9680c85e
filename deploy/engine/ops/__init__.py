"""The engine's op registry, one module per op family; importing the package registers every op.

- lowered: the C an op lowers to (CArray, CStruct, Call and its operands In / Out / Scratch, Lowered)
- registry: OpContext, @register, the handlers (OPS), check_op, the kernel files (KERNEL_SOURCES), the op docs
- common: accessors, geometry, overlap bounds and the rules most ops share; variants: per-core kernel choices
- conv, depthwise, dense (with gemm), pool, binary, activation, shape, quantize: the ops

To add an op: write its handler in the family module it belongs to (or a new module listed below), with its
rules, its emitter and the kernels it calls; nothing else names it.
"""
from deploy.engine.ops import activation, binary, conv, dense, depthwise, pool, quantize, shape  # noqa: F401
from deploy.engine.ops.registry import (KERNEL_SOURCES, OPS, OpContext, check_op, kernel_sources,  # noqa: F401
                                        supported_ops, supported_ops_doc)
