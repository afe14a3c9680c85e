"""Shared fixtures: tiny builds (through the CLI, or without training in this process), run once per session and
reused by the tests that read them."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def run_cli(*args, cwd=None, timeout=600):
    """Run `edgecnn ...` in a fresh process, as a user would; returns the CompletedProcess."""
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    return subprocess.run([sys.executable, "-m", "toolkit.cli", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=timeout)


def invoke_cli(*args):
    """`edgecnn ...` in this process (click's CliRunner), for tests of the command itself rather than of a fresh
    process (run_cli); an exception other than the CLI's own exit fails the test with its traceback."""
    from types import SimpleNamespace

    from click.testing import CliRunner

    from toolkit.cli import cli

    r = CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)
    return SimpleNamespace(returncode=r.exit_code, stdout=r.stdout, stderr=r.stderr)


def expect_clean_failure(r, out, *words) -> str:
    """A CLI run that failed as every bad input must: a non-zero exit, one `edgecnn: error:` line on stderr holding
    each of `words`, no traceback, and no output (nor staging) folder; returns that line."""
    assert r.returncode != 0, r.stdout
    assert "Traceback" not in r.stderr, r.stderr
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("edgecnn: error:"), r.stderr
    for w in words:
        assert w in lines[0], lines[0]
    assert not out.exists()
    assert not list(out.parent.glob(f".{out.name}.partial-*"))
    return lines[0]


@pytest.fixture(scope="session")
def build_dir(tmp_path_factory):
    """A default-model build on digits with few epochs (the shape of every artifact, not its accuracy)."""
    out = tmp_path_factory.mktemp("builds") / "standard"
    r = run_cli("build", "--target", "cortex-m", "--epochs", "3", "--out", out)
    assert r.returncode == 0, r.stderr
    (out.parent / f"{out.name}.stdout.txt").write_text(r.stdout)  # the build's summary, beside (not in) the build
    return out


@pytest.fixture(scope="session")
def untrained_dir(tmp_path_factory):
    """A cortex-m4 build folder of the default model, untrained, made in this process without the CLI
    (firmware_support.untrained_build): for the verifier tests, which need the shape of a build, not a trained
    model. Copy it (firmware_support.copy_untrained) before building firmware in it."""
    from firmware_support import untrained_build

    return untrained_build(tmp_path_factory.mktemp("untrained") / "build")
