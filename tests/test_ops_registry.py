"""The op registry (deploy/engine/ops/): one handler per op, rules whose docstrings are the rules, kernel files
derived from the handlers, and the docs (`edgecnn ops`, the README's table) made from them."""
from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from deploy.engine.ops import KERNEL_SOURCES, OPS, supported_ops_doc
from deploy.engine.ops.common import rule_fused_activation
from deploy.engine.ops.registry import OpHandler, RegistryError, register, register_kernels, rule_text
from deploy.engine.templates import TEMPLATE_DIR

ROOT = Path(__file__).resolve().parents[1]


def test_registering_an_op_twice_is_an_error():
    before = OPS["CONV_2D"]
    with pytest.raises(RegistryError, match="CONV_2D is registered twice"):
        register("CONV_2D", rules=())(lambda ctx: None)
    assert OPS["CONV_2D"] is before


def test_a_kernel_named_with_other_files_is_an_error():
    with pytest.raises(RegistryError, match="ecnn_gemm"):
        register_kernels("a test", {"ecnn_gemm": ("ecnn_dense.c",)})
    assert KERNEL_SOURCES["ecnn_gemm"][0] == "ecnn_conv.c"


def test_a_rule_without_a_docstring_is_refused_at_registration():
    def rule_nameless(ctx):
        return True, ""

    with pytest.raises(RegistryError, match="rule_nameless .* no docstring"):
        register("NOT_AN_OP_X", rules=(rule_nameless,), doc="x")(lambda ctx: None)
    assert "NOT_AN_OP_X" not in OPS


def test_every_op_lists_every_rule_and_its_kernels_are_real_files():
    doc = supported_ops_doc()
    for name, h in OPS.items():
        assert h.doc, name
        block = doc.split(f"- `{name}`: ", 1)[1].split("\n- `", 1)[0]
        assert block.count("\n  - ") == len(h.rules), name  # each rule once, none cut short
        for r in h.rules:
            assert rule_text(r) in block, (name, r.__name__)
        for k in h.kernels:
            assert all((TEMPLATE_DIR / "engine" / f).is_file() for f in KERNEL_SOURCES[k]), k
    for conv_op in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "MAX_POOL_2D", "SOFTMAX", "PAD"):
        assert len(OPS[conv_op].rules) >= 3, conv_op


def test_refusal_names_the_rule_and_what_the_layer_has():
    h = OpHandler("X", None, (rule_fused_activation,), "x")
    ctx = SimpleNamespace(op=SimpleNamespace(options={"fused_activation": "TANH"}))
    assert h.check(ctx) == ["The fused activation is none, ReLU, ReLU6 or ReLU_N1_TO_1. (this layer: "
                            "fused activation TANH)"]
    ctx.op.options["fused_activation"] = "RELU6"
    assert h.check(ctx) == []


def test_the_readme_op_table_is_edgecnn_ops():
    text = (ROOT / "README.md").read_text()
    table = text.split("<!-- ops:begin -->\n", 1)[1].split("\n<!-- ops:end -->", 1)[0]
    assert table == supported_ops_doc(), "README's op table is stale: paste `edgecnn ops` between the markers"
