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
    rows = [line for line in md.splitlines() if line.startswith("| ds_cnn") or line.startswith("| fc_auto")
            or line.startswith("| compact_cnn")]
    assert len(rows) == 3
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert cells[12].startswith("100% of"), row
        assert all(c != "-" for c in cells[1:12]), row  # every figure was measured
    assert (tmp_path / "suite_quick.png").read_bytes()[:4] == b"\x89PNG"
