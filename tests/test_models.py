"""The compact CNN family: every conv kind builds for any image input, and sharing orders the parameter counts."""
import pytest

from models import REGISTRY, build_model
from toolkit.errors import ConfigError


@pytest.mark.parametrize("shape", [(8, 8, 1), (32, 32, 3), (49, 10, 1)])
def test_conv_kinds_order_parameters(shape):
    p = {c: build_model("compact_cnn", shape, 5, conv=c).count_params() for c in ("standard", "grouped", "depthwise")}
    assert p["standard"] > p["grouped"] > p["depthwise"] > 0


def test_width_and_groups():
    small = build_model("compact_cnn", (8, 8, 1), 10, width=0.5).count_params()
    big = build_model("compact_cnn", (8, 8, 1), 10, width=2.0).count_params()
    assert small < big
    g4 = build_model("compact_cnn", (8, 8, 1), 10, conv="grouped", groups=4).count_params()
    g2 = build_model("compact_cnn", (8, 8, 1), 10, conv="grouped", groups=2).count_params()
    assert g4 < g2


def test_bad_model_requests():
    with pytest.raises(ConfigError, match="unknown model"):
        build_model("resnet152", (8, 8, 1), 10)
    with pytest.raises(ConfigError, match="image input"):
        build_model("compact_cnn", (64,), 10)
    assert "compact_cnn" in REGISTRY


@pytest.mark.parametrize("name, params", [("ds_cnn", 24_908), ("resnet8", 78_666)])
def test_mlperf_tiny_parameter_counts_match_the_published_ones(name, params):
    spec = REGISTRY[name]
    assert build_model(name, spec.input_shape, spec.classes).count_params() == params
