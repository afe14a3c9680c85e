"""Where trials run: a local process pool (the default) or a Ray cluster (`--ray auto|ADDRESS`), both running
toolkit.search.trial.run_trial on the same specs, so the study sees the same results from either.

A backend submits specs, waits for any to finish and returns each result as a dict; a worker that dies (a
crash, a lost node) is retried once (the local pool is rebuilt; Ray re-runs the task), and a trial whose
retry also fails comes back as {"status": "failed"} so that it is recorded, not lost.
"""
from __future__ import annotations

import multiprocessing
import os
import signal
import socket
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor
from concurrent.futures import wait as futures_wait
from concurrent.futures.process import BrokenProcessPool

from toolkit.errors import ConfigError
from toolkit.search.trial import run_trial

RETRIES = 1  # re-runs of a trial whose worker died


def _worker_init() -> None:
    """A pool worker leaves Ctrl-C to the search (which stops the pool) instead of printing its own traceback."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _failed(spec: dict, why: str) -> dict:
    return {"number": spec["number"], "status": "failed", "error": why, "seconds": 0.0}


class LocalBackend:
    """A pool of `workers` processes on this machine (spawned: each imports TensorFlow once, then runs trials)."""

    name = "local"

    def __init__(self, workers: int):
        self.workers = workers
        self._pool = self._new_pool()
        self._specs: dict = {}  # future -> (spec, tries)

    def _new_pool(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(max_workers=self.workers, mp_context=multiprocessing.get_context("spawn"),
                                   initializer=_worker_init)

    def describe(self) -> str:
        return f"local process pool, {self.workers} worker{'s' if self.workers != 1 else ''}"

    def submit(self, spec: dict, tries: int = 0):
        fut = self._pool.submit(run_trial, spec)
        self._specs[fut] = (spec, tries)
        return fut

    def wait(self, handles: list, timeout: float) -> list:
        done, _ = futures_wait(handles, timeout=timeout, return_when=FIRST_COMPLETED)
        return list(done)

    def result(self, handle) -> tuple[dict | None, object | None]:
        """(the result, None), or (None, a new handle) when the trial was re-submitted after its worker died."""
        spec, tries = self._specs.pop(handle)
        try:
            return handle.result(), None
        except BrokenProcessPool:
            if tries < RETRIES:
                self._rebuild()
                return None, self.submit(spec, tries + 1)
            self._rebuild()
            return _failed(spec, f"its worker process died {tries + 1} times (killed, out of memory or a crash)"), None
        except Exception as exc:  # pickling and the like: recorded as the trial's failure
            return _failed(spec, f"{type(exc).__name__}: {exc}"), None

    def _rebuild(self) -> None:
        if getattr(self._pool, "_broken", False):
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = self._new_pool()

    def stop(self) -> None:
        """Stop at once: running trials are abandoned (the study has every finished one)."""
        procs = list((getattr(self._pool, "_processes", None) or {}).values())  # no public API kills workers
        self._pool.shutdown(wait=False, cancel_futures=True)
        for p in procs:
            if p.is_alive():
                p.terminate()
        for p in procs:
            p.join(timeout=5)

    def close(self) -> None:
        self._pool.shutdown(wait=True)


class InlineBackend:
    """Trials one at a time in this process (--workers 0): no worker start-up, Ctrl-C stops the trial itself;
    for debugging and tests."""

    name = "inline"
    workers = 1

    def __init__(self):
        self._done: dict = {}
        self._next = 0

    def describe(self) -> str:
        return "this process (--workers 0)"

    def submit(self, spec: dict, tries: int = 0):
        self._next += 1
        self._done[self._next] = run_trial(spec)
        return self._next

    def wait(self, handles: list, timeout: float) -> list:
        return [h for h in handles if h in self._done]

    def result(self, handle) -> tuple[dict | None, object | None]:
        return self._done.pop(handle), None

    def stop(self) -> None:
        self._done.clear()

    def close(self) -> None:
        pass


def check_ray_address(address: str) -> None:
    """A ConfigError, within seconds, when ADDRESS (host:port of the cluster's head) does not answer."""
    if address == "auto":
        return
    host, _, port = address.rpartition(":")
    if address.startswith("ray://"):
        host, _, port = address[len("ray://"):].rpartition(":")
    if not host or not port.isdigit():
        raise ConfigError(f"--ray {address!r} is not auto or HOST:PORT",
                          hint="give the head node's address, e.g. --ray 10.0.0.5:6379, or --ray auto on a node")
    try:
        with socket.create_connection((host, int(port)), timeout=5):
            pass
    except OSError as exc:
        raise ConfigError(f"the Ray cluster at {address} does not answer ({exc.strerror or exc})",
                          hint="start it with `ray start --head` on the head node, or check the address and port")


class RayBackend:
    """Trials as Ray tasks (one CPU each) on an existing cluster, or on the instance this process already runs."""

    name = "ray"

    def __init__(self, address: str):
        import ray

        self._ray = ray
        self._own = False
        if not ray.is_initialized():
            check_ray_address(address)
            try:
                ray.init(address=address, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
            except (ConnectionError, RuntimeError, ValueError) as exc:
                first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
                raise ConfigError(f"cannot connect to the Ray cluster at --ray {address}: {first}",
                                  hint="start one with `ray start --head` (then --ray auto on that machine), or "
                                       "give the head's HOST:PORT") from None
            self._own = True
        self.workers = max(1, int(ray.cluster_resources().get("CPU", 1)))
        self._remote = ray.remote(num_cpus=1, max_retries=RETRIES, retry_exceptions=False)(run_trial)
        self._specs: dict = {}

    def describe(self) -> str:
        nodes = len([n for n in self._ray.nodes() if n.get("Alive")])
        return f"Ray, {nodes} node{'s' if nodes != 1 else ''}, {self.workers} CPUs"

    def submit(self, spec: dict, tries: int = 0):
        ref = self._remote.remote(spec)
        self._specs[ref] = spec
        return ref

    def wait(self, handles: list, timeout: float) -> list:
        done, _ = self._ray.wait(handles, num_returns=1, timeout=timeout)
        return done

    def result(self, handle) -> tuple[dict | None, object | None]:
        spec = self._specs.pop(handle)
        try:
            return self._ray.get(handle), None
        except Exception as exc:  # a worker that died RETRIES+1 times, a lost node: recorded as failed
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
            return _failed(spec, f"Ray: {type(exc).__name__}: {first}"), None

    def stop(self) -> None:
        for ref in list(self._specs):
            try:
                self._ray.cancel(ref, force=True)
            except Exception:  # already finished or its worker gone
                pass
        self._specs.clear()
        self.close()

    def close(self) -> None:
        if self._own:
            self._ray.shutdown()


def make_backend(ray: str | None, workers: int | None):
    """Ray when `ray` names a cluster, else the local pool (default: one worker per core; 0: this process)."""
    if ray:
        return RayBackend(ray)
    if workers == 0:
        return InlineBackend()
    return LocalBackend(workers or max(1, os.cpu_count() or 1))


__all__ = ["InlineBackend", "LocalBackend", "RayBackend", "make_backend", "check_ray_address"]
