"""Reads a .tflite flatbuffer into plain Python objects, checking every offset against the file's bounds.

Written against the public TFLite schema (tensorflow/lite/schema/schema.fbs). It needs neither TensorFlow
nor the flatbuffers package, never reads outside the buffer it was given, and turns every malformed input
into a ModelFileError that names the file, so the report, code generation and verification can trust it.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from toolkit.errors import ModelFileError

BUILTIN_OPS = (
    'ADD', 'AVERAGE_POOL_2D', 'CONCATENATION', 'CONV_2D', 'DEPTHWISE_CONV_2D', 'DEPTH_TO_SPACE',
    'DEQUANTIZE', 'EMBEDDING_LOOKUP', 'FLOOR', 'FULLY_CONNECTED', 'HASHTABLE_LOOKUP',
    'L2_NORMALIZATION', 'L2_POOL_2D', 'LOCAL_RESPONSE_NORMALIZATION', 'LOGISTIC', 'LSH_PROJECTION',
    'LSTM', 'MAX_POOL_2D', 'MUL', 'RELU', 'RELU_N1_TO_1', 'RELU6', 'RESHAPE', 'RESIZE_BILINEAR',
    'RNN', 'SOFTMAX', 'SPACE_TO_DEPTH', 'SVDF', 'TANH', 'CONCAT_EMBEDDINGS', 'SKIP_GRAM', 'CALL',
    'CUSTOM', 'EMBEDDING_LOOKUP_SPARSE', 'PAD', 'UNIDIRECTIONAL_SEQUENCE_RNN', 'GATHER',
    'BATCH_TO_SPACE_ND', 'SPACE_TO_BATCH_ND', 'TRANSPOSE', 'MEAN', 'SUB', 'DIV', 'SQUEEZE',
    'UNIDIRECTIONAL_SEQUENCE_LSTM', 'STRIDED_SLICE', 'BIDIRECTIONAL_SEQUENCE_RNN', 'EXP', 'TOPK_V2',
    'SPLIT', 'LOG_SOFTMAX', 'DELEGATE', 'BIDIRECTIONAL_SEQUENCE_LSTM', 'CAST', 'PRELU', 'MAXIMUM',
    'ARG_MAX', 'MINIMUM', 'LESS', 'NEG', 'PADV2', 'GREATER', 'GREATER_EQUAL', 'LESS_EQUAL',
    'SELECT', 'SLICE', 'SIN', 'TRANSPOSE_CONV', 'SPARSE_TO_DENSE', 'TILE', 'EXPAND_DIMS', 'EQUAL',
    'NOT_EQUAL', 'LOG', 'SUM', 'SQRT', 'RSQRT', 'SHAPE', 'POW', 'ARG_MIN', 'FAKE_QUANT',
    'REDUCE_PROD', 'REDUCE_MAX', 'PACK', 'LOGICAL_OR', 'ONE_HOT', 'LOGICAL_AND', 'LOGICAL_NOT',
    'UNPACK', 'REDUCE_MIN', 'FLOOR_DIV', 'REDUCE_ANY', 'SQUARE', 'ZEROS_LIKE', 'FILL', 'FLOOR_MOD',
    'RANGE', 'RESIZE_NEAREST_NEIGHBOR', 'LEAKY_RELU', 'SQUARED_DIFFERENCE', 'MIRROR_PAD', 'ABS',
    'SPLIT_V', 'UNIQUE', 'CEIL', 'REVERSE_V2', 'ADD_N', 'GATHER_ND', 'COS', 'WHERE', 'RANK', 'ELU',
    'REVERSE_SEQUENCE', 'MATRIX_DIAG', 'QUANTIZE', 'MATRIX_SET_DIAG', 'ROUND', 'HARD_SWISH', 'IF',
    'WHILE', 'NON_MAX_SUPPRESSION_V4', 'NON_MAX_SUPPRESSION_V5', 'SCATTER_ND', 'SELECT_V2',
    'DENSIFY', 'SEGMENT_SUM', 'BATCH_MATMUL', 'PLACEHOLDER_FOR_GREATER_OP_CODES', 'CUMSUM',
    'CALL_ONCE', 'BROADCAST_TO', 'RFFT2D', 'CONV_3D', 'IMAG', 'REAL', 'COMPLEX_ABS', 'HASHTABLE',
    'HASHTABLE_FIND', 'HASHTABLE_IMPORT', 'HASHTABLE_SIZE', 'REDUCE_ALL', 'CONV_3D_TRANSPOSE',
    'VAR_HANDLE', 'READ_VARIABLE', 'ASSIGN_VARIABLE', 'BROADCAST_ARGS', 'RANDOM_STANDARD_NORMAL',
    'BUCKETIZE', 'RANDOM_UNIFORM', 'MULTINOMIAL', 'GELU', 'DYNAMIC_UPDATE_SLICE', 'RELU_0_TO_1',
    'UNSORTED_SEGMENT_PROD', 'UNSORTED_SEGMENT_MAX', 'UNSORTED_SEGMENT_SUM', 'ATAN2',
    'UNSORTED_SEGMENT_MIN', 'SIGN', 'BITCAST', 'BITWISE_XOR', 'RIGHT_SHIFT', 'STABLEHLO_LOGISTIC',
    'STABLEHLO_ADD', 'STABLEHLO_DIVIDE', 'STABLEHLO_MULTIPLY', 'STABLEHLO_MAXIMUM',
    'STABLEHLO_RESHAPE', 'STABLEHLO_CLAMP', 'STABLEHLO_CONCATENATE', 'STABLEHLO_BROADCAST_IN_DIM',
    'STABLEHLO_CONVOLUTION', 'STABLEHLO_SLICE', 'STABLEHLO_CUSTOM_CALL', 'STABLEHLO_REDUCE',
    'STABLEHLO_ABS', 'STABLEHLO_AND', 'STABLEHLO_COSINE', 'STABLEHLO_EXPONENTIAL',
    'STABLEHLO_FLOOR', 'STABLEHLO_LOG', 'STABLEHLO_MINIMUM', 'STABLEHLO_NEGATE', 'STABLEHLO_OR',
    'STABLEHLO_POWER', 'STABLEHLO_REMAINDER', 'STABLEHLO_RSQRT', 'STABLEHLO_SELECT',
    'STABLEHLO_SUBTRACT', 'STABLEHLO_TANH', 'STABLEHLO_SCATTER', 'STABLEHLO_COMPARE',
    'STABLEHLO_CONVERT', 'STABLEHLO_DYNAMIC_SLICE', 'STABLEHLO_DYNAMIC_UPDATE_SLICE',
    'STABLEHLO_PAD', 'STABLEHLO_IOTA', 'STABLEHLO_DOT_GENERAL', 'STABLEHLO_REDUCE_WINDOW',
    'STABLEHLO_SORT', 'STABLEHLO_WHILE', 'STABLEHLO_GATHER', 'STABLEHLO_TRANSPOSE', 'DILATE',
    'STABLEHLO_RNG_BIT_GENERATOR', 'REDUCE_WINDOW', 'STABLEHLO_COMPOSITE', 'STABLEHLO_SHIFT_LEFT',
    'STABLEHLO_CBRT', 'STABLEHLO_CASE',
)
PADDING = ("SAME", "VALID")
MAX_TENSOR_BYTES = 1 << 30  # no tensor of a model for a microcontroller or phone comes near 1 GiB
ACTIVATIONS = ("NONE", "RELU", "RELU_N1_TO_1", "RELU6", "TANH", "SIGN_BIT")
TENSOR_TYPES = {
    0: "float32", 1: "float16", 2: "int32", 3: "uint8", 4: "int64", 5: "string", 6: "bool", 7: "int16",
    8: "complex64", 9: "int8", 10: "float64", 11: "complex128", 12: "uint64", 13: "resource",
    14: "variant", 15: "uint32", 16: "uint16", 17: "int4",
}
_NUMPY_TYPES = {"float32", "float16", "int32", "uint8", "int64", "bool", "int16", "int8", "float64",
                "uint64", "uint32", "uint16"}

# Builtin options, field by field in schema order: (name, kind, default). Kinds: scalar struct codes,
# "pad"/"act" for the two enums, "[i" for an int32 vector. Ops that are not listed keep empty options.
_CONV = [("padding", "pad", 0), ("stride_w", "i", 0), ("stride_h", "i", 0), ("fused_activation", "act", 0),
         ("dilation_w", "i", 1), ("dilation_h", "i", 1)]
_DEPTHWISE = [("padding", "pad", 0), ("stride_w", "i", 0), ("stride_h", "i", 0), ("depth_multiplier", "i", 0),
              ("fused_activation", "act", 0), ("dilation_w", "i", 1), ("dilation_h", "i", 1)]
_POOL = [("padding", "pad", 0), ("stride_w", "i", 0), ("stride_h", "i", 0), ("filter_w", "i", 0),
         ("filter_h", "i", 0), ("fused_activation", "act", 0)]
_ACT_ONLY = [("fused_activation", "act", 0)]
OPTION_FIELDS = {
    "CONV_2D": _CONV,
    "DEPTHWISE_CONV_2D": _DEPTHWISE,
    "AVERAGE_POOL_2D": _POOL,
    "MAX_POOL_2D": _POOL,
    "FULLY_CONNECTED": [("fused_activation", "act", 0), ("weights_format", "b", 0), ("keep_num_dims", "?", False)],
    "SOFTMAX": [("beta", "f", 0.0)],
    "ADD": _ACT_ONLY,
    "SUB": _ACT_ONLY,
    "MUL": _ACT_ONLY,
    "CONCATENATION": [("axis", "i", 0), ("fused_activation", "act", 0)],
    "RESHAPE": [("new_shape", "[i", ())],
    "MEAN": [("keep_dims", "?", False)],
    "SUM": [("keep_dims", "?", False)],
    "REDUCE_MAX": [("keep_dims", "?", False)],
    "SQUEEZE": [("squeeze_dims", "[i", ())],
    "LEAKY_RELU": [("alpha", "f", 0.0)],
    "STRIDED_SLICE": [("begin_mask", "i", 0), ("end_mask", "i", 0), ("ellipsis_mask", "i", 0),
                      ("new_axis_mask", "i", 0), ("shrink_axis_mask", "i", 0), ("offset", "?", False)],
    "SPLIT": [("num_splits", "i", 0)],
    "SPLIT_V": [("num_splits", "i", 0)],
    "RESIZE_NEAREST_NEIGHBOR": [("align_corners", "?", False), ("half_pixel_centers", "?", False)],
    "TRANSPOSE_CONV": [("padding", "pad", 0), ("stride_w", "i", 0), ("stride_h", "i", 0),
                       ("fused_activation", "act", 0)],
}


@dataclass(frozen=True)
class Quantization:
    """Affine quantization of one tensor: real = scale * (q - zero_point), per tensor or per channel."""

    scale: np.ndarray
    zero_point: np.ndarray
    axis: int = 0

    @property
    def per_channel(self) -> bool:
        return self.scale.size > 1


@dataclass(frozen=True)
class Tensor:
    index: int
    name: str
    shape: tuple[int, ...]
    dtype: str
    quant: Quantization | None
    data: bytes | None = field(default=None, repr=False)  # constant contents, None for activations

    @property
    def is_constant(self) -> bool:
        return self.data is not None

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) if self.shape else 1

    @property
    def itemsize(self) -> int:
        return np.dtype(self.dtype).itemsize if self.dtype in _NUMPY_TYPES else 1

    @property
    def nbytes(self) -> int:
        return self.size * self.itemsize

    def array(self) -> np.ndarray:
        """The constant contents as a numpy array of the tensor's shape."""
        if self.data is None:
            raise ModelFileError(f"tensor '{self.name}' has no constant data")
        if self.dtype not in _NUMPY_TYPES:
            raise ModelFileError(f"tensor '{self.name}' has type {self.dtype}, which edgecnn cannot read")
        arr = np.frombuffer(self.data, dtype=np.dtype(self.dtype).newbyteorder("<"))
        if arr.size != self.size:
            raise ModelFileError(f"tensor '{self.name}' holds {arr.size} values but its shape {self.shape} "
                                 f"needs {self.size}")
        return arr.reshape(self.shape).astype(np.dtype(self.dtype))


@dataclass(frozen=True)
class Operator:
    index: int
    op: str
    inputs: tuple[int, ...]  # -1 marks an omitted optional input
    outputs: tuple[int, ...]
    options: dict
    version: int = 1

    @property
    def name(self) -> str:
        """A readable layer name: the op and its position, as the report and error messages use it."""
        return f"{self.op.lower()}_{self.index}"


@dataclass(frozen=True)
class Graph:
    """The first subgraph of a .tflite model."""

    tensors: tuple[Tensor, ...]
    operators: tuple[Operator, ...]
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    description: str = ""
    subgraph_count: int = 1
    source: str = "<bytes>"

    def tensor(self, i: int) -> Tensor:
        return self.tensors[i]

    def op_names(self) -> list[str]:
        return sorted({o.op for o in self.operators})


class _Reader:
    """Bounds-checked flatbuffer access; every failure is a ModelFileError naming the source."""

    def __init__(self, buf: bytes, source: str):
        self.buf = buf
        self.source = source

    def fail(self, what: str) -> ModelFileError:
        return ModelFileError(f"{self.source} is not a valid .tflite model: {what}",
                              hint="re-export it with the TFLite converter or edgecnn build")

    def scalar(self, fmt: str, pos: int):
        size = struct.calcsize("<" + fmt)
        if pos < 0 or pos + size > len(self.buf):
            raise self.fail(f"offset {pos} is outside the file ({len(self.buf)} bytes)")
        return struct.unpack_from("<" + fmt, self.buf, pos)[0]

    def indirect(self, pos: int) -> int:
        return pos + self.scalar("I", pos)

    def table(self, pos: int) -> "_Table":
        vtable = pos - self.scalar("i", pos)
        vsize = self.scalar("H", vtable)
        if vsize < 4 or vsize % 2:
            raise self.fail(f"bad vtable size {vsize} at offset {vtable}")
        self.scalar("H", vtable + vsize - 2)  # the whole vtable lies inside the file
        return _Table(self, pos, vtable, vsize)


class _Table:
    def __init__(self, r: _Reader, pos: int, vtable: int, vsize: int):
        self.r, self.pos, self.vtable, self.vsize = r, pos, vtable, vsize

    def _field(self, i: int) -> int:
        off = 4 + 2 * i
        if off >= self.vsize:
            return 0
        return self.r.scalar("H", self.vtable + off)

    def scalar(self, i: int, fmt: str, default):
        off = self._field(i)
        return default if off == 0 else self.r.scalar(fmt, self.pos + off)

    def table(self, i: int) -> _Table | None:
        off = self._field(i)
        return None if off == 0 else self.r.table(self.r.indirect(self.pos + off))

    def _vector(self, i: int, elem: int) -> tuple[int, int] | None:
        off = self._field(i)
        if off == 0:
            return None
        start = self.r.indirect(self.pos + off)
        n = self.r.scalar("I", start)
        if start + 4 + n * elem > len(self.r.buf):
            raise self.r.fail(f"a vector of {n} elements at offset {start} runs past the end of the file")
        return start + 4, n

    def string(self, i: int) -> str:
        v = self._vector(i, 1)
        if v is None:
            return ""
        return self.r.buf[v[0]:v[0] + v[1]].decode("utf-8", errors="replace")

    def bytes_(self, i: int) -> bytes | None:
        v = self._vector(i, 1)
        return None if v is None else bytes(self.r.buf[v[0]:v[0] + v[1]])

    def scalars(self, i: int, fmt: str) -> tuple:
        size = struct.calcsize("<" + fmt)
        v = self._vector(i, size)
        if v is None:
            return ()
        return struct.unpack_from(f"<{v[1]}{fmt}", self.r.buf, v[0])

    def tables(self, i: int) -> list[_Table]:
        v = self._vector(i, 4)
        if v is None:
            return []
        return [self.r.table(self.r.indirect(v[0] + 4 * k)) for k in range(v[1])]


def _decode_options(op: str, t: _Table | None, r: _Reader) -> dict:
    spec = OPTION_FIELDS.get(op, [])
    out = {}
    for i, (name, kind, default) in enumerate(spec):
        if t is None:
            value = default
        elif kind == "[i":
            value = tuple(t.scalars(i, "i"))
        elif kind in ("pad", "act"):
            value = t.scalar(i, "b", default)
        else:
            value = t.scalar(i, kind, default)
        if kind == "pad":
            table = PADDING
        elif kind == "act":
            table = ACTIVATIONS
        else:
            table = None
        if table is not None:
            if isinstance(value, int) and not 0 <= value < len(table):
                raise r.fail(f"{op} has an unknown {name} code {value}")
            value = table[value] if isinstance(value, int) else value
        out[name] = value
    return out


def _quantization(t: _Table | None) -> Quantization | None:
    if t is None:
        return None
    scale = np.asarray(t.scalars(2, "f"), dtype=np.float32)
    zp = np.asarray(t.scalars(3, "q"), dtype=np.int64)
    if scale.size == 0:
        return None
    if zp.size == 0:
        zp = np.zeros_like(scale, dtype=np.int64)
    return Quantization(scale=scale, zero_point=zp, axis=int(t.scalar(6, "i", 0)))


def read_tflite(source: str | Path | bytes, name: str | None = None) -> Graph:
    """Parse a .tflite file (path or bytes) into a Graph, or raise ModelFileError saying what is wrong. `name` is
    what messages call bytes (the model they came from); a path names itself."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        buf, name = bytes(source), name or "<bytes>"
    else:
        path = Path(source)
        name = str(path)
        if not path.is_file():
            raise ModelFileError(f"model file {path} does not exist", hint="check the path")
        buf = path.read_bytes()
    r = _Reader(buf, name)
    if len(buf) < 8:
        raise r.fail(f"only {len(buf)} bytes")
    if buf[4:8] != b"TFL3":
        raise r.fail("the file identifier is not 'TFL3'")
    model = r.table(r.indirect(0))
    opcodes = []
    for oc in model.tables(1):
        code = max(oc.scalar(0, "b", 0), oc.scalar(3, "i", 0))
        if code == 32:  # CUSTOM
            opcodes.append(("CUSTOM:" + oc.string(1), oc.scalar(2, "i", 1)))
        else:
            opcodes.append((BUILTIN_OPS[code] if 0 <= code < len(BUILTIN_OPS) else f"BUILTIN_{code}",
                            oc.scalar(2, "i", 1)))
    buffers = []
    for b in model.tables(4):
        data = b.bytes_(0)
        offset, size = b.scalar(1, "Q", 0), b.scalar(2, "Q", 0)
        if not data and offset > 1:
            if offset + size > len(buf):
                raise r.fail(f"a buffer at offset {offset} of {size} bytes runs past the end of the file")
            data = buf[offset:offset + size]
        buffers.append(data or None)
    subgraphs = model.tables(2)
    if not subgraphs:
        raise r.fail("it has no subgraph")
    sg = subgraphs[0]
    tensors = []
    for i, t in enumerate(sg.tables(0)):
        shape = tuple(int(d) for d in t.scalars(0, "i"))
        if any(d < 0 for d in shape[1:]):
            raise r.fail(f"tensor {i} has a dynamic shape {shape}")
        ttype = t.scalar(1, "b", 0)
        bidx = t.scalar(2, "I", 0)
        if bidx >= max(len(buffers), 1) and bidx != 0:
            raise r.fail(f"tensor {i} refers to buffer {bidx} of {len(buffers)}")
        data = buffers[bidx] if bidx < len(buffers) else None
        tensor = Tensor(index=i, name=t.string(3) or f"tensor_{i}", shape=shape,
                        dtype=TENSOR_TYPES.get(ttype, f"type{ttype}"), quant=_quantization(t.table(4)), data=data)
        if tensor.nbytes > MAX_TENSOR_BYTES:  # a corrupt shape must not make later stages allocate gigabytes
            raise r.fail(f"tensor {i} ('{tensor.name}') claims shape {shape}, {tensor.nbytes:,} bytes")
        if data is not None and tensor.dtype in _NUMPY_TYPES and len(data) != tensor.nbytes:
            raise r.fail(f"tensor {i} ('{tensor.name}') has shape {shape} ({tensor.nbytes:,} bytes) but its "
                         f"buffer holds {len(data):,} bytes")
        tensors.append(tensor)
    n = len(tensors)

    def check_refs(refs: tuple, what: str, allow_missing: bool) -> tuple[int, ...]:
        for k in refs:
            if not (-1 if allow_missing else 0) <= k < n:
                raise r.fail(f"{what} refers to tensor {k} of {n}")
        return tuple(int(k) for k in refs)

    operators = []
    for i, o in enumerate(sg.tables(3)):
        oci = o.scalar(0, "I", 0)
        if oci >= len(opcodes):
            raise r.fail(f"operator {i} uses operator code {oci} of {len(opcodes)}")
        op, version = opcodes[oci]
        options = _decode_options(op, o.table(4), r)
        operators.append(Operator(index=i, op=op, version=version, options=options,
                                  inputs=check_refs(o.scalars(1, "i"), f"operator {i} ({op})", True),
                                  outputs=check_refs(o.scalars(2, "i"), f"operator {i} ({op})", False)))
    return Graph(tensors=tuple(tensors), operators=tuple(operators),
                 inputs=check_refs(sg.scalars(1, "i"), "the subgraph inputs", False),
                 outputs=check_refs(sg.scalars(2, "i"), "the subgraph outputs", False),
                 description=model.string(3), subgraph_count=len(subgraphs), source=name)
