"""Captures what native code (TFLM, the TFLite converter, tf2onnx) prints to file descriptors 1 and 2."""
from __future__ import annotations

import logging
import os
import sys
import tempfile
from contextlib import contextmanager


@contextmanager
def capture_fds():
    """Capture what C code writes to file descriptors 1 and 2 (TFLM prints with printf)."""
    sys.stdout.flush()
    sys.stderr.flush()
    with tempfile.TemporaryFile(mode="w+b") as tmp:
        saved = os.dup(1), os.dup(2)
        os.dup2(tmp.fileno(), 1)
        os.dup2(tmp.fileno(), 2)
        box: list[str] = []
        try:
            yield box
        finally:
            try:
                from ctypes import CDLL
                CDLL(None).fflush(None)
            except OSError:
                pass
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])
            tmp.seek(0)
            box.append(tmp.read().decode("utf-8", errors="replace"))


@contextmanager
def quiet_native(loggers=("absl", "tf2onnx", "tensorflow")):
    """Run a chatty library call without its prints and log lines reaching the user's terminal."""
    saved = {name: logging.getLogger(name).level for name in loggers}
    for name in loggers:
        logging.getLogger(name).setLevel(logging.ERROR)
    try:
        with capture_fds():
            yield
    finally:
        for name, level in saved.items():
            logging.getLogger(name).setLevel(level)
