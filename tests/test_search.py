"""edgecnn search: sizes and the space, budget rejection before training (planned RAM = generated engine RAM),
Ctrl-C and --resume through the CLI, a local Ray instance with a failing and a crashing trial, and bad input."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest
from click.testing import CliRunner

from toolkit.errors import ConfigError
from toolkit.search.budget import Budget, make_budget, parse_size
from toolkit.search.report import pareto
from toolkit.search.space import Space, arch_key

DIGITS_SMALL = dict(conv="depthwise", groups=2, shuffle=False, width=0.25, depth=0, resolution=1.0,
                    learning_rate=0.01)
DIGITS_LARGE = dict(DIGITS_SMALL, conv="standard", width=1.0, depth=2)


def _spec(number, params, budget=Budget(), epochs=1, **extra):
    return {"number": number, "params": params, "dataset": "digits", "seed": 0, "target": "cortex-m4",
            "budget": budget.to_dict(), "epochs": epochs, "threads": None, **extra}


@pytest.mark.parametrize("text,value", [("2048", 2048), ("64K", 65536), ("64KiB", 65536), ("64kb", 65536),
                                        ("1M", 1 << 20), ("2KiB", 2048), ("0.5K", 512)])
def test_parse_size(text, value):
    assert parse_size(text, "--ram") == value


@pytest.mark.parametrize("text", ["64Q", "K", "-1K", "64 KQ", "", "0"])
def test_parse_size_refuses(text):
    with pytest.raises(ConfigError, match="--ram"):
        parse_size(text, "--ram")


def test_latency_needs_a_clock():
    from toolkit.targets import get_target

    with pytest.raises(ConfigError, match="--clock"):
        make_budget(None, None, 50, None, get_target("cortex-m4"))
    b = make_budget("8K", "256K", 50, "80M", get_target("cortex-m4"))
    assert (b.ram_bytes, b.flash_bytes, b.max_instructions) == (8192, 262144, 4_000_000)


def test_space_grid_and_conditional_dimensions():
    small, big = Space(8), Space(32)
    assert len(big.grid()) == 3 * len(small.grid())  # resolution is searched from 16 px up
    grid = small.grid()
    assert len({json.dumps(p, sort_keys=True) for p in grid}) == len(grid)
    assert all(p["groups"] == 2 and not p["shuffle"] for p in grid if p["conv"] != "grouped")
    assert {p["resolution"] for p in grid} == {1.0}
    narrowed = small.restrict(width=(0.5,), learning_rate=(3e-3,))
    assert {p["width"] for p in narrowed.grid()} == {0.5} and len(narrowed.grid()) == len(grid) // 9
    assert len(small.smallest()) == 6 and all(p["width"] == 0.25 and p["depth"] == 0 for p in small.smallest())
    assert arch_key(dict(DIGITS_SMALL, learning_rate=1e-3)) == arch_key(DIGITS_SMALL)


def test_pareto_front():
    def row(n, acc, ins):
        return {"number": n, "status": "complete", "accuracy": acc, "instructions": ins, "plan": {"ram_bytes": ins}}

    rows = [row(0, 0.9, 100), row(1, 0.8, 50), row(2, 0.85, 120), row(3, 0.95, 300), {"number": 4, "status": "pruned"}]
    assert [r["number"] for r in pareto(rows, "instructions")] == [1, 0, 3]


def test_budget_rejects_before_training_and_plans_the_engine_ram(monkeypatch):
    """An over-budget candidate is rejected with its plan and never trained; a candidate that fits is trained and
    its generated engine needs exactly the planned RAM."""
    from toolkit.search import trial

    trained = []
    real = trial.train_briefly
    monkeypatch.setattr(trial, "train_briefly", lambda *a, **k: trained.append(a[2]) or real(*a, **k))
    budget = Budget(ram_bytes=1024)
    over = trial.run_trial(_spec(0, DIGITS_LARGE, budget))
    assert over["status"] == "rejected", over
    assert over["plan"]["ram_bytes"] > 1024 and "RAM" in over["reason"] and "curve" not in over
    assert trained == []
    fits = trial.run_trial(_spec(1, DIGITS_SMALL, budget))
    assert fits["status"] == "complete", fits
    assert trained == [DIGITS_SMALL] and len(fits["curve"]) == 1
    assert fits["engine_ram_bytes"] == fits["plan"]["ram_bytes"] <= 1024
    assert fits["bit_exact"] == 1.0 and fits["instructions"] > 1000
    assert 0.0 <= fits["accuracy"] <= 1.0


def test_pruning_rule():
    from toolkit.search.trial import dominated

    ref = [{"number": 3, "macs": 100, "ram_bytes": 100, "curve": [0.5, 0.9, 0.95]}]
    assert dominated([0.4, 0.6], 200, 200, ref, epochs=3)["number"] == 3  # larger and worse: pruned
    assert dominated([0.4, 0.6], 50, 200, ref, epochs=3) is None  # fewer MACs: may be on the front
    assert dominated([0.4, 0.88], 200, 200, ref, epochs=3) is None  # within the margin
    assert dominated([0.4], 200, 200, ref, epochs=3) is None  # not judged on its first epoch


def _cli(*args):
    from toolkit.cli import cli

    return CliRunner().invoke(cli, list(map(str, args)), catch_exceptions=False)


@pytest.mark.parametrize("args,message", [
    (("--ram", "64Q"), "--ram '64Q' is not a size"),
    (("--flash", "12parsecs"), "--flash '12parsecs' is not a size"),
    (("--latency-ms", "5"), "--latency-ms needs --clock"),
    (("--trials", "0"), "--trials must be a positive integer"),
    (("--time", "soon"), "--time 'soon' is not a duration"),
])
def test_bad_options(tmp_path, args, message):
    out = tmp_path / "s"
    r = _cli("search", "--target", "cortex-m4", "--dataset", "digits", "--out", out, *args)
    assert r.exit_code != 0 and message in r.stderr, r.stderr
    assert "Traceback" not in r.output + r.stderr and not out.exists()


def test_unknown_target_and_unreachable_ray(tmp_path):
    r = _cli("search", "--target", "cortex-m99", "--dataset", "digits", "--out", tmp_path / "a")
    assert r.exit_code == 2 and "'cortex-m99' is not one of" in r.stderr
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    t0 = time.perf_counter()
    r = _cli("search", "--target", "cortex-m4", "--dataset", "digits", "--ray", f"127.0.0.1:{port}",
             "--out", tmp_path / "b")
    assert r.exit_code == 2 and f"the Ray cluster at 127.0.0.1:{port} does not answer" in r.stderr, r.stderr
    assert time.perf_counter() - t0 < 15 and not (tmp_path / "b").exists()
    assert "Traceback" not in r.stderr


def test_budget_nothing_meets_names_the_smallest_candidate(tmp_path):
    out = tmp_path / "none"
    r = _cli("search", "--target", "cortex-m4", "--dataset", "digits", "--ram", "64", "--workers", "0",
             "--out", out)
    assert r.exit_code == 2, r.stderr
    line = r.stderr.strip().splitlines()[-1]
    assert line.startswith("edgecnn: error: no candidate fits the budget (RAM 64 B): the smallest, ")
    assert "needs RAM" in line and "and flash" in line and "Traceback" not in r.stderr
    assert not out.exists()


def _run_cli(*args):
    """The CLI in a child with SIGINT at its default, as in a terminal: a pytest-xdist worker (and a background job
    of a non-interactive shell) runs with SIGINT ignored, which the child would inherit, and Ctrl-C would do nothing."""
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    return subprocess.Popen([sys.executable, "-m", "toolkit.cli", *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def test_ctrl_c_then_resume_keeps_finished_trials_and_builds_the_chosen_model(tmp_path):
    """Ctrl-C after the first finished trial: exit 130 and a hint; --resume keeps that trial, runs the interrupted
    one again, finishes, writes the report and builds the chosen model (bit-exact on QEMU)."""
    out = tmp_path / "search"
    common = ("--workers", "0", "--trial-epochs", "1", "--final-epochs", "1")
    proc = _run_cli("search", "--target", "cortex-m4", "--dataset", "digits", "--trials", "2", "--out", out,
                    "--space", "width=0.25", "--space", "depth=0,1", "--space", "learning_rate=0.01", *common)
    lines = []
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:  # Ctrl-C while the trial after the first finished one runs
        line = proc.stderr.readline()
        if not line:
            break
        lines.append(line)
        if " running " in line and any(" complete " in ln for ln in lines):
            proc.send_signal(signal.SIGINT)
            break
    rest = proc.communicate(timeout=120)[1]
    assert proc.returncode == 130, "".join(lines) + rest
    assert "search interrupted: 1 finished trial kept in" in rest and "--resume" in rest
    assert "Traceback" not in rest
    first = int([ln for ln in lines if " complete " in ln][0].split()[1])
    interrupted = int(lines[-1].split()[1])

    r = subprocess.run([sys.executable, "-m", "toolkit.cli", "search", "--resume", "--out", str(out), *common],
                       capture_output=True, text=True, timeout=400)
    assert r.returncode == 0, r.stderr
    assert "resumed: 1 finished trial kept" in r.stderr
    doc = json.loads((out / "search.json").read_text())
    numbers = {t["number"]: t for t in doc["trials"]}
    assert numbers[first]["status"] == "complete"  # the trial finished before Ctrl-C is still there
    assert doc["summary"]["trained"] == 2
    assert [t["rerun_of"] for t in doc["trials"] if "rerun_of" in t] == [interrupted]  # it ran again
    assert doc["summary"]["planned_ram_equals_engine_ram"] == [2, 2]
    assert (out / "search.md").read_text().count("**chosen**") == 1
    assert (out / "search.png").stat().st_size > 5000
    best = out / "best"
    for name in ("model.keras", "model_int8.tflite", "model.onnx", "report.json", "golden.npz", "verify.json",
                 "firmware/engine/edgecnn_model.c"):
        assert (best / name).is_file(), name
    verify = json.loads((best / "verify.json").read_text())
    assert verify["bit_exact"] == 1.0 and verify["device"].startswith("qemu:")
    chosen = numbers[doc["chosen"]]
    assert json.loads((best / "report.json").read_text())["memory"]["peak_ram_bytes"] == chosen["plan"]["ram_bytes"]


@pytest.fixture(scope="module")
def ray_local():
    """A local Ray instance with 2 CPUs, started once for this module (it takes seconds)."""
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    yield ray
    ray.shutdown()


def test_ray_runs_trials_and_keeps_failed_ones(ray_local, tmp_path, monkeypatch):
    """Trials run as Ray tasks on 2 CPUs; a trial whose worker process dies is run again by Ray and completes, a
    trial that raises on its worker is recorded as failed (not lost)."""
    from toolkit.search.progress import Progress
    from toolkit.search.study import SearchSettings, run_search

    monkeypatch.setenv("EDGECNN_SEARCH_FAULT", "crash:0,raise:1")
    out = tmp_path / "ray"
    settings = SearchSettings(target="cortex-m4", dataset="digits", budget=Budget(ram_bytes=1536), trials=2, epochs=1,
                              out=str(out), ray="auto", build=False,
                              space_choices=(("width", (0.25,)), ("depth", (0,)), ("learning_rate", (0.01,))))
    lines = []
    outcome = run_search(settings, progress=Progress(live=False, echo=lines.append))
    rows = {r["number"]: r for r in outcome.rows}
    assert outcome.summary["backend"] == "Ray, 1 node, 2 CPUs"
    assert (out / ".fault-0").is_file()  # trial 0's first attempt killed its worker ...
    assert rows[0]["status"] in ("complete", "pruned", "rejected"), rows[0]  # ... and Ray ran it again
    assert rows[1]["status"] == "failed" and "injected fault in trial 1" in rows[1]["error"]
    assert outcome.summary["trained"] + outcome.summary["failed"] == 2
    done = [r for r in rows.values() if r["status"] == "complete"]
    assert all(r["engine_ram_bytes"] == r["plan"]["ram_bytes"] <= 1536 for r in done)
    assert json.loads((out / "search.json").read_text())["summary"]["failed"] == 1


def test_sampler_keeps_proposing_after_rejections(tmp_path):
    """Past its random start-up trials the multi-objective TPE sampler proposes candidates from a study holding
    rejected and pruned trials among measured ones (Optuna 4.9's TPE fails on trials told PRUNED)."""
    from toolkit.search.progress import Progress
    from toolkit.search.study import SearchSettings, _open_study, _Run, _record

    settings = SearchSettings(target="cortex-m4", dataset="digits", trials=6, out=str(tmp_path))
    study = _open_study(settings, tmp_path / "study.db", True, 6)
    from toolkit.search.backends import InlineBackend
    from toolkit.targets import get_target

    progress = Progress(live=False, echo=lambda text: None)
    run = _Run(settings, get_target("cortex-m4"), "ram", Space(8), InlineBackend(), progress, tmp_path)
    progress.start(run, 24, None)
    for i in range(40):  # mostly rejections, as under a tight budget: TPE's "below" set needs more than measured
        trial = study.ask()
        params = run.space.suggest(trial)
        plan = {"ram_bytes": 100 + i, "flash_bytes": 1000, "macs": 10 + i}
        status = "complete" if i in (0, 5) else ("rejected", "pruned")[i % 2]
        res = {"status": status, "plan": plan, "seconds": 0.0, "reason": status, "curve": [0.5]}
        if status == "complete":
            res.update(accuracy=0.5 + i / 100, test_accuracy=0.5, instructions=1000 + i)
        _record(study, trial, params, res, run)
    assert sum(1 for r in run.rows.values() if r["status"] == "complete") == 2
    assert {r["status"] for r in run.rows.values()} == {"rejected", "pruned", "complete"}
