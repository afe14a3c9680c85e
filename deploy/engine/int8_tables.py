"""TFLM's int8 activation kernels re-computed in exact integer arithmetic and tabulated over all 256 int8 inputs.

HARD_SWISH, LOGISTIC, TANH, RELU, RELU6, LEAKY_RELU (and RELU_N1_TO_1) map one int8 value to one int8 value, so
the engine runs each as a 256-byte table (ecnn_lut). Each function here follows TFLM's Prepare (the multipliers,
from float32 scales in the same precision and order) and its reference Eval (gemmlowp fixed point, int16
where TFLM uses int16) step by step, with Python integers wrapped to the C widths, so each table equals TFLM's
output for every input; tests/test_engine_ops_more.py checks all 256 inputs of each against the interpreter.
"""
from __future__ import annotations

import math

import numpy as np

from deploy.engine.quant_params import f32, quantize_multiplier
from toolkit.errors import ModelError

INT32_MIN, INT32_MAX = -(1 << 31), (1 << 31) - 1


def _wrap32(x: int) -> int:
    return ((x + (1 << 31)) & 0xFFFFFFFF) - (1 << 31)


def _wrap16(x: int) -> int:
    return ((x + (1 << 15)) & 0xFFFF) - (1 << 15)


def _cdiv(a: int, b: int) -> int:
    """C integer division (truncates toward zero)."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q


def srdhm32(a: int, b: int) -> int:
    if a == b == INT32_MIN:
        return INT32_MAX
    ab = a * b
    nudge = (1 << 30) if ab >= 0 else 1 - (1 << 30)
    return _wrap32(_cdiv(ab + nudge, 1 << 31))


def srdhm16(a: int, b: int) -> int:
    if a == b == -(1 << 15):
        return (1 << 15) - 1
    ab = a * b
    nudge = (1 << 14) if ab >= 0 else 1 - (1 << 14)
    return _wrap16(_cdiv(ab + nudge, 1 << 15))


def rdpot(x: int, exponent: int) -> int:
    """gemmlowp RoundingDivideByPOT (any width: the value is already in range)."""
    mask = (1 << exponent) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (1 if x < 0 else 0)
    return (x >> exponent) + (1 if remainder > threshold else 0)


def mbqm(x: int, mult: int, shift: int) -> int:
    """MultiplyByQuantizedMultiplier (int32, double rounding)."""
    left, right = max(shift, 0), max(-shift, 0)
    return rdpot(srdhm32(_wrap32(x * (1 << left)), mult), right)


def _sat_mul_pot(x: int, exponent: int) -> int:
    """gemmlowp SaturatingRoundingMultiplyByPOT on int32."""
    if exponent == 0:
        return x
    if exponent < 0:
        return rdpot(x, -exponent)
    threshold = (1 << (31 - exponent)) - 1
    if x > threshold:
        return INT32_MAX
    if x < -threshold:
        return INT32_MIN
    return _wrap32(x << exponent)


# ---- gemmlowp fixed point (int32 raw values; integer bits tracked by the caller) ----

def _exp_quarter(a: int) -> int:
    """exp(x) for x in [-1/4, 0), Q0.31."""
    constant_term, one_third = 1895147668, 715827883
    x = _wrap32(a + (1 << 28))
    x2 = srdhm32(x, x)
    x3 = srdhm32(x2, x)
    x4 = srdhm32(x2, x2)
    x4_over_4 = _sat_mul_pot(x4, -2)
    poly = _sat_mul_pot(_wrap32(srdhm32(_wrap32(x4_over_4 + x3), one_third) + x2), -1)
    return _wrap32(constant_term + srdhm32(constant_term, _wrap32(x + poly)))


_BARREL = ((-2, 1672461947), (-1, 1302514674), (0, 790015084), (1, 290630308), (2, 39332535), (3, 720401), (4, 242))


def exp_on_negative_values(a: int, integer_bits: int) -> int:
    """exp(a) for a <= 0 in Q(integer_bits); result Q0.31."""
    frac = 31 - integer_bits
    one_quarter = 1 << (frac - 2)
    a_mod = _wrap32((a & (one_quarter - 1)) - one_quarter)
    result = _exp_quarter(_sat_mul_pot(a_mod, integer_bits))  # Rescale<0>
    remainder = _wrap32(a_mod - a)
    for exponent, multiplier in _BARREL:
        if integer_bits > exponent and remainder & (1 << (frac + exponent)):
            result = srdhm32(result, multiplier)
    if integer_bits > 5 and a < -(1 << (36 - integer_bits)):
        result = 0
    return INT32_MAX if a == 0 else result


def _newton_f2(half_den: int) -> int:
    x = _wrap32(1515870810 + srdhm32(half_den, -1010580540))
    for _ in range(3):
        hdx = srdhm32(half_den, x)
        one_minus = _wrap32((1 << 29) - hdx)
        x = _wrap32(x + _sat_mul_pot(srdhm32(x, one_minus), 2))
    return x


def _rounding_half_sum(a: int, b: int) -> int:
    s = a + b
    return _wrap32(_cdiv(s + (1 if s >= 0 else -1), 2))


def one_over_one_plus_x(a: int) -> int:
    return _sat_mul_pot(_newton_f2(_rounding_half_sum(a, INT32_MAX)), 1)  # Rescale<0>(ExactMulByPot<-1>(x))


def one_minus_x_over_one_plus_x(a: int) -> int:
    x = _newton_f2(_rounding_half_sum(a, INT32_MAX))
    return _sat_mul_pot(_wrap32(x - (1 << 29)), 2)  # Rescale<0>(x - F2::One())


def fp_logistic(a: int, integer_bits: int) -> int:
    if a == 0:
        return 1 << 30
    pos = a > 0
    abs_a = a if pos else _wrap32(-a)
    r = one_over_one_plus_x(exp_on_negative_values(_wrap32(-abs_a), integer_bits))
    return r if pos else _wrap32(INT32_MAX - r)


def fp_tanh(a: int, integer_bits: int) -> int:
    if a == 0:
        return 0
    neg = a < 0
    n = a if neg else _wrap32(-a)
    # ExactMulByPot<1>: same raw value, one more integer bit
    t = one_minus_x_over_one_plus_x(exp_on_negative_values(n, integer_bits + 1))
    return _wrap32(-t) if neg else t


# ---- the tables ----

def _table(fn) -> np.ndarray:
    return np.array([fn(q) for q in range(-128, 128)], dtype=np.int64)


def _frexp_multiplier(real: float, what: str) -> tuple[int, int]:
    """LOGISTIC / TANH Prepare: std::frexp then TfLiteRound(q * 2^31), no renormalisation."""
    q, shift = math.frexp(real)
    m = int(math.floor(q * (1 << 31) + 0.5))
    if m >= 1 << 31 or shift < 0 or shift > 31:
        raise ModelError(f"{what}: input scale {real:g} is outside what TFLM's int8 kernel handles")
    return m, shift


def _input_radius(integer_bits: int, left_shift: int) -> int:
    return int(math.floor(1.0 * ((1 << integer_bits) - 1) * (1 << (31 - integer_bits)) / (1 << left_shift)))


def _saturating_table(in_scale, in_zp: int, what: str, fp_fn, out_exponent: int, out_zp: int) -> np.ndarray:
    """TFLM's int8 Logistic / Tanh kernels (they share this shape): the input rescaled into Q4.27 by a frexp
    multiplier, -128 / 127 beyond the input radius, else fp_fn's Q0.31 result divided by 2^out_exponent (rounding)
    plus the output zero point, clamped to int8."""
    mult, shift = _frexp_multiplier(float(f32(in_scale)) * float(1 << 27), what)
    radius = _input_radius(4, shift)

    def one(q: int) -> int:
        x = q - in_zp
        if x <= -radius:
            return -128
        if x >= radius:
            return 127
        out = rdpot(fp_fn(mbqm(x, mult, shift), 4), out_exponent)
        return min(max(out + out_zp, -128), 127)

    return _table(one)


def logistic_table(in_scale, in_zp: int, what: str) -> np.ndarray:
    """reference_integer_ops::Logistic (output scale 1/256, zero point -128)."""
    return _saturating_table(in_scale, in_zp, what, fp_logistic, 23, -128)


def tanh_table(in_scale, in_zp: int, what: str) -> np.ndarray:
    """reference_integer_ops::Tanh (output scale 1/128, zero point 0)."""
    return _saturating_table(in_scale, in_zp, what, fp_tanh, 24, 0)


def _downscale_to_int16(m: int) -> int:
    if m >= INT32_MAX - (1 << 15):
        return (1 << 15) - 1
    return (m + (1 << 15)) >> 16


def _sat_shl16(x: int, amount: int) -> int:
    return min(max(x * (1 << amount), -(1 << 15)), (1 << 15) - 1)


def _sdhm16(a: int, b: int) -> int:
    """SaturatingDoublingHighMul (rounds toward zero)."""
    if a == b == -(1 << 15):
        return (1 << 15) - 1
    return _wrap16(_cdiv(a * b, 1 << 15))


def hard_swish_table(in_scale, in_zp: int, out_scale, out_zp: int, what: str) -> np.ndarray:
    """reference_ops::HardSwish<int8_t> with HardSwishPrepare's int16 multipliers."""
    hires = f32(f32(1.0 / 128.0) * f32(in_scale))
    out_m32, out_exp = quantize_multiplier(float(f32(hires / f32(out_scale))))
    if out_exp > 0:
        raise ModelError(f"{what}: HARD_SWISH output multiplier exponent {out_exp} > 0, which TFLM refuses")
    relu_m32, relu_exp = quantize_multiplier(float(f32(hires / f32(3.0 / 32768.0))))
    out_m16, relu_m16 = _downscale_to_int16(out_m32), _downscale_to_int16(relu_m32)

    def one(q: int) -> int:
        v = _wrap16(q - in_zp)
        hi = _wrap16(v * 128)
        pre_out = srdhm16(hi, out_m16)
        r = hi
        if relu_exp > 0:
            r = _sat_shl16(r, relu_exp - 1)
        r = srdhm16(r, relu_m16)
        if relu_exp > 0:
            r = _sat_shl16(r, 1)
        if relu_exp < 0:
            r = rdpot(r, -relu_exp)
        r = _wrap16((r + (1 << 15)) >> 1)
        out = rdpot(_sdhm16(r, pre_out), -out_exp)
        out = _wrap16(out + out_zp)
        return min(max(out, -128), 127)

    return _table(one)


def relu_table(in_scale, in_zp: int, out_scale, out_zp: int, lo: float, hi: float | None) -> np.ndarray:
    """ReluQuantized (RELU, RELU_N1_TO_1): requantize, clamp to [lo, hi] in the output's quantization."""
    mult, shift = quantize_multiplier(float(f32(f32(in_scale) / f32(out_scale))))

    def q(v: float) -> int:
        x = float(f32(v) / f32(out_scale))
        return int(out_zp) + int(math.floor(x + 0.5) if x >= 0 else -math.floor(-x + 0.5))

    amin = max(-128, q(lo))
    amax = 127 if hi is None else min(127, q(hi))
    return _table(lambda x: min(max(int(out_zp) + mbqm(x - in_zp, mult, shift), amin), amax))


def relu6_table(in_scale, in_zp: int) -> np.ndarray:
    """Relu6Quantized: a clamp to [zero point, quantized 6.0] in the input's quantization (no requantization)."""
    x = float(f32(6.0) / f32(in_scale))
    six = min(max(int(math.floor(x + 0.5)) + int(in_zp), -128), 127)
    return _table(lambda v: min(max(v, int(in_zp)), six))


def leaky_relu_table(in_scale, in_zp: int, out_scale, out_zp: int, alpha: float, what: str) -> np.ndarray:
    """QuantizeLeakyRelu: identity and alpha multipliers (float32 products, then double)."""
    if alpha < 0:
        raise ModelError(f"{what}: LEAKY_RELU with a negative alpha ({alpha}) is not supported")
    ma, sa = quantize_multiplier(float(f32(f32(in_scale) * f32(alpha)) / f32(out_scale)))
    mi, si = quantize_multiplier(float(f32(f32(in_scale) / f32(out_scale))))

    def one(q: int) -> int:
        x = q - in_zp
        y = out_zp + (mbqm(x, mi, si) if x >= 0 else mbqm(x, ma, sa))
        return min(max(y, -128), 127)

    return _table(one)


def add_input_table(in_offset: int, left_shift: int, mult: int, shift: int) -> np.ndarray:
    """TFLM's int8 ADD input stage for every int8 value v (index v + 128): (v + in_offset) << left_shift, then
    MultiplyByQuantizedMultiplierSmallerThanOneExp(., mult, shift) (shift <= 0): the int32 that the output
    stage adds to the other input's, times 2 (the DSP output stage's operand). ecnn_add_rows looks both inputs
    up instead of rescaling them."""
    return 2 * np.array([rdpot(srdhm32(_wrap32((v + in_offset) << left_shift), mult), -shift)
                     for v in range(-128, 128)], dtype=np.int64)
