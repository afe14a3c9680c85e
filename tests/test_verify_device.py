"""deploy.verify.device: the --device string, dispatch to QEMU, verify.json, and a mismatch failing by name."""
from __future__ import annotations

import json

import numpy as np
import pytest

from deploy.verify.device import parse_device, verify_device
from firmware_support import copy_build
from toolkit.errors import ConfigError, VerificationError


def test_parse_device():
    assert parse_device("qemu") == ("qemu", "cortex-m4")
    assert parse_device("qemu", default_cpu="cortex-m33") == ("qemu", "cortex-m33")
    assert parse_device("qemu:m7") == ("qemu", "cortex-m7")
    assert parse_device("qemu:cortex-m0plus") == ("qemu", "cortex-m0plus")
    assert parse_device("qemu:cortex-m") == ("qemu", "cortex-m4")
    assert parse_device("serial:/dev/ttyACM0") == ("serial", "/dev/ttyACM0")
    assert parse_device("serial:socket://127.0.0.1:4000") == ("serial", "socket://127.0.0.1:4000")
    assert parse_device("host") == ("host", None)
    for bad, why in (("qemu:m99", "not a Cortex-M CPU"), ("qemu:android", "not a Cortex-M CPU"),
                     ("serial", "needs a port"), ("jtag", "host, qemu"), ("host:x", "no argument")):
        with pytest.raises(ConfigError, match=why):
            parse_device(bad)


@pytest.mark.toolchain
def test_qemu_dispatch_writes_verify_json_and_a_mismatch_names_the_sample(build_dir, tmp_path):
    b = copy_build(build_dir, tmp_path / "build")
    r = verify_device(b, "qemu:m3", samples=6, check=True)
    saved = json.loads((b / "verify.json").read_text())
    assert saved["device"] == r["device"] == "qemu:cortex-m3" and saved["bit_exact"] == 1.0
    with np.load(b / "golden.npz") as g:  # corrupt the reference of sample 2: the device now "differs"
        data = {k: g[k] for k in g.files}
    data["outputs_int8"][2, 0] = np.int8(int(data["outputs_int8"][2, 0]) ^ 4)
    np.savez(b / "golden.npz", **data)
    with pytest.raises(VerificationError, match=r"qemu:cortex-m3: 1 of 6 samples differ .* first is sample 2"):
        verify_device(b, "qemu:cortex-m3", samples=6, check=True)
    saved = json.loads((b / "verify.json").read_text())
    assert saved["first_mismatch"]["sample"] == 2 and saved["first_mismatch"]["positions"] == [0]
