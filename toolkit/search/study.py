"""The search: an Optuna multi-objective study (accuracy up, instructions or RAM down) in OUT/study.db, fed by
trials that run on a local process pool or a Ray cluster.

Only this process touches the study: it asks Optuna for a candidate, sends the candidate to a worker
(toolkit.search.trial.run_trial) and tells Optuna the result as soon as it arrives, so SQLite holds every
finished trial the moment it finishes. An interrupted search (Ctrl-C, a crash, a full disk) resumes with
`--resume`: trials that were running are marked failed and queued again, finished ones are kept.

Trials: a candidate over budget is rejected before training (a failed trial in Optuna's terms, with its plan and
status "rejected" in its attributes, as pruned, repeated and failed ones have theirs); a
candidate whose architecture was already planned over budget, or that was already measured, costs nothing;
`--trials N` counts the candidates trained.
"""
from __future__ import annotations

import json
import os
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

from toolkit.errors import ConfigError, EdgecnnError, OutputError
from toolkit.search.budget import Budget
from toolkit.search.space import Space, arch_key, candidate_text

STUDY_NAME = "edgecnn-search"
DB_NAME = "study.db"
MAX_IDLE_PROPOSALS = 200  # proposals in a row that cost nothing (repeats, known rejections): the space is spent
COUNTED = ("complete", "pruned", "failed")  # statuses that count towards --trials
# the settings that define a study: a --resume must not change them
STUDY_KEYS = ("target", "dataset", "budget", "objective", "epochs", "seed", "space_choices", "grid", "prune")


class SearchInterrupted(EdgecnnError):
    """Ctrl-C: the finished trials are in the study; --resume continues."""

    exit_code = 130


@dataclass(frozen=True)
class SearchSettings:
    target: str
    dataset: str
    budget: Budget = field(default_factory=Budget)
    objective: str = "auto"  # "instructions" (needs an emulated core), "ram", or auto: instructions when there is one
    trials: int | None = 20  # candidates to train (None with time_seconds: until the time is up)
    time_seconds: float | None = None
    epochs: int = 6  # epochs of a trial's short schedule
    seed: int = 0
    out: str | None = None
    workers: int | None = None  # local pool size (default: one per core)
    ray: str | None = None  # "auto" or HOST:PORT: trials run on that Ray cluster
    resume: bool = False
    build: bool = True  # build the chosen candidate in full (OUT/best)
    final_epochs: int | None = None  # the chosen model's training (None: the build's default schedule)
    prune: bool = True
    grid: bool = False  # every candidate of the space, in order (the exhaustive grid a benchmark compares with)
    space_choices: tuple = ()  # narrowed dimensions: ((name, (choices...)), ...)

    @property
    def out_dir(self) -> Path:
        return Path(self.out) if self.out else Path("build") / f"search-{Path(self.dataset).stem}"

    def study_dict(self) -> dict:
        d = asdict(self)
        d["budget"] = self.budget.to_dict()
        d["space_choices"] = [[k, list(v)] for k, v in self.space_choices]
        return {k: d[k] for k in STUDY_KEYS}


@dataclass
class SearchOutcome:
    out_dir: Path
    rows: list[dict]
    summary: dict
    chosen: dict | None
    build: object | None = None  # toolkit.pipeline.BuildResult of the chosen model
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)


def resolve_objective(settings: SearchSettings, target) -> str:
    if settings.objective == "auto":
        return "instructions" if target.kind == "mcu" and target.qemu_machine else "ram"
    if settings.objective not in ("instructions", "ram"):
        raise ConfigError(f"--objective {settings.objective!r} is not instructions or ram")
    if settings.objective == "instructions" and not (target.kind == "mcu" and target.qemu_machine):
        raise ConfigError(f"--objective instructions needs an emulated core, and --target {target.name} has none",
                          hint="use --objective ram, or a cortex-m target")
    return settings.objective


def check_settings(settings: SearchSettings):
    """Everything that can be checked before a worker starts or a file is written; returns the target."""
    from toolkit.targets import get_target

    target = get_target(settings.target)
    if target.kind == "android":
        raise ConfigError("--target android has no generated engine to plan RAM and flash for",
                          hint="search for a cortex-m target (or host), then build for android")
    if settings.trials is not None and settings.trials <= 0:
        raise ConfigError(f"--trials must be a positive integer, got {settings.trials}")
    if settings.trials is None and settings.time_seconds is None and not settings.grid:
        raise ConfigError("give --trials N or --time DURATION")
    if settings.epochs <= 0:
        raise ConfigError(f"--trial-epochs must be a positive integer, got {settings.epochs}")
    if settings.workers is not None and settings.workers < 0:
        raise ConfigError(f"--workers must be 0 (this process) or more, got {settings.workers}")
    if settings.ray and settings.workers is not None:
        raise ConfigError("--workers sizes the local pool; with --ray the cluster's CPUs are the workers",
                          hint="leave --workers out")
    return target


def _check_out(settings: SearchSettings) -> Path:
    out = settings.out_dir
    db = out / DB_NAME
    if settings.resume:
        if not db.is_file():
            raise OutputError(f"--resume: {db} does not exist", hint="give the --out of the search to continue")
    elif out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise OutputError(f"output folder {out} already exists" + (" and holds a search" if db.is_file() else ""),
                          hint="continue it with --resume, or choose another --out")
    return out


def _open_study(settings: SearchSettings, db: Path, create: bool, n_trials: int | None):
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = f"sqlite:///{db.resolve()}"
    startup = max(3, min(10, (n_trials or 30) // 3))
    with warnings.catch_warnings():  # multivariate TPE is marked experimental; it models the joint space
        warnings.simplefilter("ignore")
        sampler = optuna.samplers.TPESampler(seed=settings.seed, n_startup_trials=startup, multivariate=True)
    if create:
        study = optuna.create_study(storage=storage, study_name=STUDY_NAME, directions=["maximize", "minimize"],
                                    sampler=sampler)
        study.set_user_attr("settings", settings.study_dict())
        study.set_user_attr("limits", {"trials": settings.trials, "time_seconds": settings.time_seconds})
        return study
    try:
        study = optuna.load_study(storage=storage, study_name=STUDY_NAME, sampler=sampler)
    except Exception as exc:  # not an Optuna database, or another study in it
        raise OutputError(f"--resume: {db} holds no edgecnn search ({type(exc).__name__})",
                          hint="give the --out of an earlier `edgecnn search`") from None
    stored = study.user_attrs.get("settings", {})
    mine = settings.study_dict()
    for key in STUDY_KEYS:
        if key in stored and stored[key] != mine[key]:
            raise ConfigError(f"--resume: this search was started with {key} = {stored[key]!r}, not {mine[key]!r}",
                              hint=f"leave the option for {key} out (or give the same value) to continue it")
    return study


def stored_settings(out: Path) -> dict:
    """The settings an earlier search in `out` was started with (for --resume without repeating them), with its
    trials and time_seconds limits."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    db = out / DB_NAME
    if not db.is_file():
        raise OutputError(f"--resume: {db} does not exist", hint="give the --out of the search to continue")
    try:
        study = optuna.load_study(storage=f"sqlite:///{db.resolve()}", study_name=STUDY_NAME)
    except Exception:
        raise OutputError(f"--resume: {db} holds no edgecnn search",
                          hint="give the --out of an earlier `edgecnn search`") from None
    return {**study.user_attrs.get("settings", {}), **study.user_attrs.get("limits", {})}


class _Run:
    """The state of one run of the search loop (a resumed search starts from what the study holds)."""

    def __init__(self, settings, target, objective, space, backend, progress, out):
        self.s, self.target, self.objective, self.space = settings, target, objective, space
        self.backend, self.progress, self.out = backend, progress, out
        self.rows: dict[int, dict] = {}
        self.pending: dict = {}  # handle -> (optuna trial, params)
        self.plans: dict[str, dict] = {}  # arch key -> plan
        self.rejected: dict[str, str] = {}  # arch key -> reason
        self.measured: dict[str, int] = {}  # candidate key -> trial number
        self.code_bytes: dict = {}
        self.threads = (max(1, (os.cpu_count() or 1) // backend.workers) if backend.name == "local" else
                        None if backend.name == "inline" else 1)
        self.fault = _fault_from_env(out)

    def counted(self) -> int:
        return sum(1 for r in self.rows.values() if r["status"] in COUNTED and "duplicate_of" not in r)

    def learn(self, row: dict) -> None:
        """Remember what a finished trial tells later proposals (plan, rejection, measured candidate)."""
        self.rows[row["number"]] = row
        plan = row.get("plan")
        if plan:
            self.plans[arch_key(row["params"])] = plan
        if row["status"] == "rejected":
            self.rejected[arch_key(row["params"])] = row["reason"]
        if row["status"] in ("complete", "pruned") and "duplicate_of" not in row:
            self.measured[_cand_key(row["params"])] = row["number"]
        self.code_bytes.update(row.get("code_bytes") or {})

    def reference(self) -> list[dict]:
        return [{"number": r["number"], "macs": r["plan"]["macs"], "ram_bytes": r["plan"]["ram_bytes"],
                 "curve": r["curve"]} for r in self.rows.values() if r["status"] == "complete"]

    def spec(self, number: int, params: dict, **extra) -> dict:
        s = self.s
        return {"number": number, "params": params, "dataset": s.dataset, "seed": s.seed, "target": s.target,
                "budget": s.budget.to_dict(), "epochs": s.epochs, "prune": s.prune and not s.grid,
                "reference": self.reference(), "code_bytes": dict(self.code_bytes), "threads": self.threads,
                "fault": self.fault, **extra}


def _cand_key(params: dict) -> str:
    return json.dumps(params, sort_keys=True)


def _fault_from_env(out: Path) -> list[dict] | None:
    """EDGECNN_SEARCH_FAULT="raise:N,crash:M" (toolkit.search.trial's fault injection)."""
    text = os.environ.get("EDGECNN_SEARCH_FAULT")
    if not text:
        return None
    faults = []
    for part in text.split(","):
        kind, _, n = part.strip().partition(":")
        faults.append({"kind": kind, "trial": int(n), "marker": str((out / f".fault-{n}").resolve())})
    return faults


def row_from_frozen(t) -> dict:
    """A finished (or interrupted) Optuna trial as a row: its params, status and every measurement."""
    row = dict(t.user_attrs)
    row["number"] = t.number
    row["params"] = row.get("params") or dict(t.params)
    row.setdefault("status", "failed" if t.state.name == "FAIL" else t.state.name.lower())
    return row


def precheck(settings: SearchSettings, space: Space, backend, budget: Budget) -> list[dict]:
    """Plan the smallest candidate of every convolution variant: when none fits the budget, nothing can, and the
    search stops before it writes anything, naming the smallest candidate's RAM and flash."""
    run = _Run(settings, None, None, space, backend, None, settings.out_dir)
    run.fault = None
    handles = [backend.submit(run.spec(-1 - i, p, plan_only=True)) for i, p in enumerate(space.smallest())]
    results = []
    while handles:
        for h in backend.wait(handles, timeout=1.0):
            handles.remove(h)
            res, again = backend.result(h)
            if again is not None:
                handles.append(again)
                continue
            results.append(res)
    failed = [r for r in results if r["status"] == "failed"]
    if len(failed) == len(results):
        raise EdgecnnError(f"could not plan any candidate: {failed[0]['error']}",
                           hint="check that the data set loads and the toolchain works (`edgecnn build` on it)")
    planned = [r for r in results if r["status"] != "failed"]
    if all(r["status"] == "rejected" for r in planned):
        small = min(planned, key=lambda r: (r["plan"]["ram_bytes"], r["plan"]["flash_bytes"]))
        params = space.smallest()[-1 - small["number"]]
        latency = (f" and {small['plan']['instructions']:,} instructions" if small["plan"].get("instructions")
                   else "")
        raise ConfigError(f"no candidate fits the budget ({budget.text()}): the smallest, "
                          f"{candidate_text(params).rsplit(' lr', 1)[0]}, needs RAM {small['plan']['ram_bytes']:,} B "
                          f"and flash {small['plan']['flash_bytes']:,} B{latency}",
                          hint="raise --ram/--flash/--latency-ms, or choose a target with more memory")
    return planned


def run_search(settings: SearchSettings, progress=None) -> SearchOutcome:
    """Run (or resume) a search; see the module docstring. Writes OUT/study.db, the report and OUT/best."""
    from toolkit.search.backends import make_backend
    from toolkit.search.progress import Progress
    from toolkit.search.trial import dataset_for

    t0 = time.perf_counter()
    target = check_settings(settings)
    objective = resolve_objective(settings, target)
    out = _check_out(settings)
    data = dataset_for(settings.dataset, settings.seed)  # a bad data set stops here, before any worker or file
    space = Space(min(data.input_shape[:2]) if len(data.input_shape) == 3 else 0).restrict(
        **{k: v for k, v in settings.space_choices})
    progress = progress or Progress()
    backend = make_backend(settings.ray, settings.workers)
    restore = _sigterm_as_interrupt()
    try:
        pre = []
        if not settings.resume:
            if settings.budget != Budget():
                progress.line(f"planning the smallest candidates on {backend.describe()} ...")
                pre = precheck(settings, space, backend, settings.budget)
            out.mkdir(parents=True, exist_ok=True)
        study = _open_study(settings, out / DB_NAME, not settings.resume, settings.trials)
        run = _Run(settings, target, objective, space, backend, progress, out)
        for res in pre:
            run.code_bytes.update(res.get("code_bytes") or {})
        n_target = _prepare(study, run, space)
        _loop(study, run, n_target, t0)
    except KeyboardInterrupt:
        backend.stop()
        progress.stop()
        done = len(run.rows) if "run" in locals() else 0
        where = out / DB_NAME
        raise SearchInterrupted(f"search interrupted: {done} finished trial{'s' if done != 1 else ''} kept in {where}"
                                if where.exists() else "search interrupted before its study was created",
                                hint=f"continue with: edgecnn search --resume --out {out}" if where.exists()
                                else "nothing was written") from None
    except BaseException:
        backend.stop()
        progress.stop()
        raise
    finally:
        restore()
    backend.close()
    progress.stop()
    return _finish(study, run, t0)


def _sigterm_as_interrupt():
    """While the search runs, SIGTERM (a scheduler, `kill`) stops it as Ctrl-C does: workers stopped, finished
    trials kept. Returns what restores the previous handler."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    return lambda: signal.signal(signal.SIGTERM, previous)


def _prepare(study, run: _Run, space: Space) -> int | None:
    """Load what the study already holds (a resume), queue the trials that were running again, queue the grid."""
    from optuna.trial import TrialState

    for t in study.get_trials(deepcopy=False):
        if t.state == TrialState.RUNNING:  # interrupted: its result was never told; run it again
            study.tell(t.number, state=TrialState.FAIL)
            study.enqueue_trial(dict(t.params), user_attrs={"rerun_of": t.number})
        elif t.state in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL) and "status" in t.user_attrs:
            run.learn(row_from_frozen(t))
    grid = space.grid()
    if run.s.grid and not run.s.resume:
        for params in grid:
            study.enqueue_trial(params)
    if run.s.grid:
        return len(grid)
    return run.s.trials


def _loop(study, run: _Run, n_target: int | None, t0: float) -> None:
    s, backend, progress = run.s, run.backend, run.progress
    deadline = t0 + s.time_seconds if s.time_seconds else None
    idle = 0
    progress.start(run, n_target, deadline)
    while True:
        while len(run.pending) < backend.workers and idle < MAX_IDLE_PROPOSALS:
            if n_target is not None and run.counted() + len(run.pending) >= n_target:
                break
            if deadline is not None and time.perf_counter() >= deadline:
                break
            if run.s.grid and not _waiting(study):
                break
            idle = idle + 1 if not _propose(study, run) else 0
        if not run.pending:
            if idle >= MAX_IDLE_PROPOSALS:
                progress.line(f"stopped: the last {MAX_IDLE_PROPOSALS} proposals were all repeats or known "
                              "rejections (the space is spent for this budget)")
            break
        for handle in backend.wait(list(run.pending), timeout=0.5):
            trial, params = run.pending.pop(handle)
            res, again = backend.result(handle)
            if again is not None:
                run.pending[again] = (trial, params)
                progress.line(f"trial {trial.number}: its worker died; running it again")
                continue
            _record(study, trial, params, res, run)
        progress.refresh()


def _waiting(study) -> bool:
    from optuna.trial import TrialState

    return bool(study.get_trials(deepcopy=False, states=(TrialState.WAITING,)))


def _propose(study, run: _Run) -> bool:
    """Ask for a candidate; True when it was sent to a worker, False when it cost nothing (a repeat, a known
    rejection: told at once)."""
    trial = study.ask()
    params = run.space.suggest(trial)
    key = arch_key(params)
    seen = run.measured.get(_cand_key(params))
    if seen is not None and not run.s.grid:
        _record(study, trial, params, {**_copy(run.rows[seen]), "duplicate_of": seen}, run)
        return False
    running = next((t.number for t, p in run.pending.values() if p == params), None)
    if running is not None and not run.s.grid:  # the same candidate is being trained now: no second training
        _record(study, trial, params, {"status": "repeat", "duplicate_of": running, "seconds": 0.0,
                                       "reason": f"the same candidate as trial {running}, running"}, run)
        return False
    if key in run.rejected:
        _record(study, trial, params, {"status": "rejected", "reason": run.rejected[key], "plan": run.plans[key],
                                       "seconds": 0.0, "known": True}, run)
        return False
    handle = run.backend.submit(run.spec(trial.number, params))
    run.pending[handle] = (trial, params)
    run.progress.started(trial.number, params)
    return True


def _copy(row: dict) -> dict:
    return {k: v for k, v in row.items() if k not in ("number", "params", "worker", "seconds", "code_bytes")}


def _cost(row: dict, objective: str):
    return row.get("instructions") if objective == "instructions" else row["plan"]["ram_bytes"]


def _record(study, trial, params: dict, res: dict, run: _Run) -> None:
    """Tell Optuna the result and keep every measurement in the trial's attributes (SQLite, at once)."""
    from optuna.trial import TrialState

    row = {k: v for k, v in res.items() if k not in ("traceback",)}
    row.update(number=trial.number, params=params, candidate=candidate_text(params))
    if row["status"] == "complete" and _cost(row, run.objective) is None:
        row.update(status="failed", error=f"no {run.objective} measured")
    for key, value in row.items():
        if key not in ("number",):
            trial.set_user_attr(key, value)
    if row["status"] == "complete":
        study.tell(trial, [row["accuracy"], _cost(row, run.objective)])
    else:  # rejected, pruned, repeat, failed: the attributes say which. Not PRUNED: multi-objective TPE (Optuna
        study.tell(trial, state=TrialState.FAIL)  # 4.9) fails on pruned trials, which have no values
    run.learn(row)
    run.progress.finished(row)


def _finish(study, run: _Run, t0: float) -> SearchOutcome:
    from toolkit.search.report import choose, summarize, write_report

    rows = [row_from_frozen(t) for t in study.get_trials(deepcopy=False) if "status" in t.user_attrs]
    summary = summarize(rows, run.objective, run.s, run.space, run.backend.describe())
    chosen = choose(rows, run.objective)
    outcome = SearchOutcome(out_dir=run.out, rows=rows, summary=summary, chosen=chosen)
    if chosen is None:
        outcome.notes.append("no candidate was measured within the budget: nothing to build")
    outcome.seconds = round(time.perf_counter() - t0, 1)
    write_report(outcome, run.objective, run.s)  # the study's report first: a failing build leaves it in place
    if chosen is not None and run.s.build:
        from toolkit.search.final import build_chosen

        run.progress.line(f"building the chosen candidate, trial {chosen['number']} ({chosen['candidate']}) in full "
                          f"-> {run.out / 'best'}")
        outcome.build = build_chosen(run.s, chosen, run.out, log=lambda line: run.progress.line("  " + line))
        outcome.seconds = round(time.perf_counter() - t0, 1)
        write_report(outcome, run.objective, run.s)
    return outcome


__all__ = ["SearchSettings", "SearchOutcome", "SearchInterrupted", "run_search", "stored_settings", "check_settings",
           "precheck", "row_from_frozen"]
