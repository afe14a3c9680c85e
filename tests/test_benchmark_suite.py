"""The short run of the benchmark suite, as CI runs it: every row measured and bit-exact."""
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
@pytest.mark.toolchain
def test_quick_suite_runs_and_is_bit_exact(tmp_path):
    r = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "suite.py"), "--quick", "--results", str(tmp_path)],
                       capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-2000:]
    md = (tmp_path / "suite_quick.md").read_text()

    def rows(section):
        text = md.split(section, 1)[1].split("###", 1)[0]
        return [[c.strip() for c in line.strip("|").split("|")] for line in text.splitlines()
                if line.startswith(("| ds_cnn", "| fc_auto", "| compact_cnn"))]

    everything = rows("### Everything measured")
    assert len(everything) == 3
    for cells in everything:
        assert cells[12].startswith("100% of"), cells
        assert all(c != "-" for c in cells[1:12]), cells  # every figure was measured
    # the peer on the same emulated core (../shared/tflm-cortex-m): 32-bit arena and TFLM + CMSIS-NN speed
    for section in ("### RAM", "### Speed on the emulated Cortex-M4"):
        table = rows(section)
        assert len(table) == 3 and all(c != "-" for cells in table for c in cells), (section, table)
    assert (tmp_path / "suite_quick.png").read_bytes()[:4] == b"\x89PNG"
