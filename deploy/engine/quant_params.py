"""Integer kernel parameters exactly as TensorFlow Lite Micro derives them from a model's float scales.

TFLM turns float32 scales into int32 multipliers and shifts in its Prepare functions
(QuantizeMultiplier on doubles, activation ranges with float32 rounding, softmax's
PreprocessSoftmaxScaling, ...). Doing the same arithmetic here, in the same order and precision,
gives the same integers, so the generated C needs no floating point and is bit exact.
Also holds a NumPy model of the int32 fixed-point primitives (used to tabulate MEAN and by tests).
"""
from __future__ import annotations

import math

import numpy as np

from toolkit.errors import ModelError

INT8_MIN, INT8_MAX = -128, 127


def _round_half_away(x: float) -> float:
    """TfLiteRound / std::round on a double: halves go away from zero."""
    return math.floor(x + 0.5) if x >= 0 else -math.floor(-x + 0.5)


def quantize_multiplier(real: float) -> tuple[int, int]:
    """TFLite's QuantizeMultiplier: real = m * 2^(shift - 31) with m a Q0.31 int32 in [2^30, 2^31)."""
    if real == 0.0:
        return 0, 0
    q, shift = math.frexp(real)
    q_fixed = int(_round_half_away(q * (1 << 31)))
    if q_fixed == (1 << 31):
        q_fixed //= 2
        shift += 1
    if shift < -31:
        shift, q_fixed = 0, 0
    if shift > 30:
        shift, q_fixed = 30, (1 << 31) - 1
    return q_fixed, shift


def quantize_multiplier_smaller_than_one_exp(real: float, what: str) -> tuple[int, int]:
    if not 0.0 < real < 1.0:
        raise ModelError(f"{what}: the rescaling factor {real} is not in (0, 1) as TFLM requires",
                         hint="re-quantize the model with edgecnn or the TFLite converter")
    return quantize_multiplier(real)


def f32(x) -> np.float32:
    return np.float32(x)


def activation_range(activation: str, scale: float, zero_point: int) -> tuple[int, int]:
    """CalculateActivationRangeQuantized: the fused activation as an int8 clamp (float32 arithmetic)."""

    def quantize(v: float) -> int:
        q = float(f32(v) / f32(scale))  # float32 division, as TFLM's lambda does
        q = _round_half_away(q)
        return int(zero_point) + int(max(min(q, 2 ** 31 - 1), -(2 ** 31)))

    if activation == "NONE":
        return INT8_MIN, INT8_MAX
    if activation == "RELU":
        return max(INT8_MIN, quantize(0.0)), INT8_MAX
    if activation == "RELU6":
        return max(INT8_MIN, quantize(0.0)), min(INT8_MAX, quantize(6.0))
    if activation == "RELU_N1_TO_1":
        return max(INT8_MIN, quantize(-1.0)), min(INT8_MAX, quantize(1.0))
    raise ModelError(f"fused activation {activation} is not supported on the int8 path")


def per_channel_multipliers(input_scale, filter_scales, output_scale, channels: int) -> tuple[list, list]:
    """PopulateConvolutionQuantizationParams (conv, depthwise, per-channel fully connected)."""
    scales = np.asarray(filter_scales, dtype=np.float32).reshape(-1)
    mults, shifts = [], []
    for i in range(channels):
        s = scales[i] if scales.size > 1 else scales[0]
        real = float(f32(input_scale)) * float(s) / float(f32(output_scale))
        m, sh = quantize_multiplier(real)
        mults.append(m)
        shifts.append(sh)
    return mults, shifts


def per_tensor_fc_multiplier(input_scale, filter_scale, output_scale) -> tuple[int, int]:
    """GetQuantizedConvolutionMultipler: the input*filter product is taken in float32 first."""
    product = float(f32(input_scale) * f32(filter_scale))
    return quantize_multiplier(product / float(f32(output_scale)))


def add_params(s1, s2, so, what: str) -> dict:
    """TFLM's int8 ADD: both inputs rescaled to twice the larger scale with a left shift of 20."""
    left_shift = 20
    twice_max = 2.0 * float(max(f32(s1), f32(s2)))
    r1 = float(f32(s1)) / twice_max
    r2 = float(f32(s2)) / twice_max
    ro = twice_max / ((1 << left_shift) * float(f32(so)))
    m1, sh1 = quantize_multiplier_smaller_than_one_exp(r1, what)
    m2, sh2 = quantize_multiplier_smaller_than_one_exp(r2, what)
    mo, sho = quantize_multiplier_smaller_than_one_exp(ro, what)
    return dict(left_shift=left_shift, in1_mult=m1, in1_shift=sh1, in2_mult=m2, in2_shift=sh2,
                out_mult=mo, out_shift=sho)


def softmax_params(beta: float, input_scale: float, what: str) -> dict:
    """CalculateSoftmaxParams for int8: PreprocessSoftmaxScaling and the input radius (5 integer bits)."""
    integer_bits = 5
    real = min(float(f32(beta)) * float(f32(input_scale)) * float(1 << (31 - integer_bits)), (1 << 31) - 1.0)
    if not real > 1.0:
        raise ModelError(f"{what}: the softmax input scale {float(input_scale):g} is so small that TFLM's softmax "
                         "multiplier underflows (TFLM aborts on such a model)",
                         hint="the layer before the softmax produces near-constant logits; check the model's "
                              "calibration data and weights")
    mult, left_shift = quantize_multiplier(real)
    if left_shift < 0:
        raise ModelError(f"{what}: softmax left shift {left_shift} is negative")
    radius = math.floor(1.0 * ((1 << integer_bits) - 1) * (1 << (31 - integer_bits)) / (1 << left_shift))
    return dict(input_multiplier=mult, input_left_shift=left_shift, diff_min=-int(radius))


def requantize_params(in_scale, out_scale) -> tuple[int, int]:
    """QUANTIZE int8 -> int8: effective scale in double."""
    return quantize_multiplier(float(f32(in_scale)) / float(f32(out_scale)))


# ---- NumPy model of the int32 fixed point (vectorised over int64 arrays) ----

def srdhm(a, b):
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    ab = a * b
    nudge = np.where(ab >= 0, 1 << 30, 1 - (1 << 30))
    q = ab + nudge
    res = np.where(q >= 0, q // (1 << 31), -((-q) // (1 << 31)))  # C division truncates toward zero
    overflow = (a == b) & (a == -(1 << 31))
    return np.where(overflow, (1 << 31) - 1, res)


def rdpot(x, exponent: int):
    x = np.asarray(x, dtype=np.int64)
    mask = (1 << exponent) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (x < 0)
    return (x >> exponent) + (remainder > threshold)


def mbqm(x, mult: int, shift: int):
    """MultiplyByQuantizedMultiplier (double rounding), on int64 arrays holding int32 values."""
    left = max(shift, 0)
    right = max(-shift, 0)
    x = np.asarray(x, dtype=np.int64) * (1 << left)
    x = ((x + (1 << 31)) % (1 << 32)) - (1 << 31)  # int32 wrap, as the C shift does
    return rdpot(srdhm(x, mult), right)


# ---- MEAN ----

def mean_params(count: int, in_scale, out_scale) -> tuple[int, int]:
    """TFLM's int8 MEAN (reference_ops::QuantizedMeanOrSum): the in_scale / out_scale multiplier with a
    1/count folded in, in integers: multiplier * 2^k // count and shift - k, k = floor(log2(count)),
    k at most 32 and at most 31 + shift. The reduction is then
    out = MultiplyByQuantizedMultiplier(sum(q) - in_zp * count, mult, shift) + out_zp, clamped to int8.
    """
    mult, shift = quantize_multiplier(float(f32(in_scale)) / float(f32(out_scale)))
    k = min(int(count).bit_length() - 1, 32, 31 + shift)
    return int(((mult << k) if k >= 0 else (mult >> -k)) // count), shift - k


def mean_reference(sums, count: int, in_scale, in_zp: int, out_scale, out_zp: int) -> np.ndarray:
    """What the engine's (and TFLM's) MEAN writes for channels whose raw int8 values sum to `sums`."""
    mult, shift = mean_params(count, in_scale, out_scale)
    acc = mbqm(np.asarray(sums, dtype=np.int64) - count * int(in_zp), mult, shift)
    return np.clip(acc + int(out_zp), INT8_MIN, INT8_MAX)
