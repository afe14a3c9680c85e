"""Reliability through the CLI: Ctrl-C keeps the previous output, and the same seed gives the same bytes."""
import os
import signal
import subprocess
import sys
import time

from conftest import run_cli


def _popen_with_default_sigint(args, **kw):
    """Start a child with SIGINT at its default, as in an interactive terminal: a test run from a background
    job of a non-interactive shell inherits SIGINT ignored, and the Ctrl-C test would then test that instead."""
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL), **kw)


def test_ctrl_c_child_gets_the_default_handler_even_when_sigint_is_ignored_here():
    old = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        proc = _popen_with_default_sigint([sys.executable, "-c", "import signal; "
                                           "print(signal.getsignal(signal.SIGINT) is signal.default_int_handler)"])
        out, err = proc.communicate(timeout=60)
    finally:
        signal.signal(signal.SIGINT, old)
    assert out.strip() == "True", (out, err)


def test_interrupted_build_keeps_previous_output(build_dir, tmp_path):
    import shutil
    import threading

    out = tmp_path / "prev"
    shutil.copytree(build_dir, out)
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    env = dict(os.environ, PYTHONWARNINGS="ignore", PYTHONUNBUFFERED="1")
    proc = _popen_with_default_sigint([sys.executable, "-m", "toolkit.cli", "build", "--target", "cortex-m",
                                       "--epochs", "200", "--force", "--out", str(out)], env=env)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True)
    reader.start()
    # Interrupt once training runs (its progress lines are on stdout), not after a fixed delay: on a loaded
    # machine a fixed delay could land in the interpreter's start-up, on an idle one after the build's end.
    deadline = time.time() + 180
    while time.time() < deadline and proc.poll() is None and not any(x.lstrip().startswith("train") for x in lines):
        time.sleep(0.1)
    assert proc.poll() is None, ("the build ended before it could be interrupted", lines[-5:])
    assert list(tmp_path.glob(".prev.partial-*")), "the build stages into a folder beside the output"
    proc.send_signal(signal.SIGINT)
    err = proc.stderr.read()
    proc.wait(timeout=120)
    reader.join(timeout=30)
    assert proc.returncode == 130, (err, lines[-5:])
    assert "interrupted" in err and "Traceback" not in err
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == before
    assert not list(tmp_path.glob(".prev.*")), "staging folder left behind"


def test_same_seed_same_bytes(tmp_path):
    outs = []
    for k in range(2):
        out = tmp_path / f"b{k}"
        r = run_cli("build", "--target", "cortex-m", "--epochs", "2", "--seed", "7", "--out", out)
        assert r.returncode == 0, r.stderr
        outs.append(out)
    for name in ("model_int8.tflite", "firmware/tflm/model_data.c", "firmware/tflm/model_data.h",
                 "firmware/engine/edgecnn_model.c", "firmware/engine/edgecnn_model.h",
                 "firmware/cortex-m4/linker.ld", "firmware/cortex-m4/Makefile"):
        assert (outs[0] / name).read_bytes() == (outs[1] / name).read_bytes(), name
