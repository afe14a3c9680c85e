"""Search progress: a live table of trials on a terminal (rich), one line per finished trial elsewhere; both with
the best so far of each objective and the time left."""
from __future__ import annotations

import sys
import time

from toolkit.search.space import candidate_text
from toolkit.training import format_seconds

SHOWN = 14  # table rows: the running trials and the latest finished ones


def _n(v, unit: str = "") -> str:
    return "" if v is None else f"{v:,}{unit}"


class Progress:
    """Reports the search as it runs; `live` (default: stderr is a terminal) draws a rich table."""

    def __init__(self, live: bool | None = None, echo=None):
        self.live_mode = sys.stderr.isatty() if live is None else live
        self.echo = echo or (lambda text: print(text, file=sys.stderr, flush=True))
        self.live = None
        self.run = None
        self.running: dict[int, tuple[dict, float]] = {}
        self.finished_order: list[int] = []
        self.t0 = time.perf_counter()
        self.counted0 = 0

    # -- events -------------------------------------------------------------------------------------------
    def start(self, run, n_target, deadline) -> None:
        self.run, self.n_target, self.deadline = run, n_target, deadline
        self.t0 = time.perf_counter()
        self.counted0 = run.counted()
        self.line(f"search: {run.s.dataset} for {run.target.name}, budget {run.s.budget.text()}, objectives "
                  f"accuracy and {run.objective}; {'every candidate of the grid' if run.s.grid else self._goal()}"
                  f" on {run.backend.describe()} -> {run.out}")
        if run.rows:
            n = len(run.rows)
            self.line(f"resumed: {n} finished trial{'s' if n != 1 else ''} kept ({run.counted()} trained)")
        if self.live_mode:
            from rich.console import Console
            from rich.live import Live

            self.live = Live(self._table(), console=Console(stderr=True), refresh_per_second=2, transient=False)
            self.live.start()

    def _goal(self) -> str:
        if self.n_target is not None:
            return f"{self.n_target} trained trials"
        return f"until {format_seconds(self.deadline - time.perf_counter())} have passed"

    def started(self, number: int, params: dict) -> None:
        self.running[number] = (params, time.perf_counter())
        if not self.live_mode:
            self.echo(f"trial {number:>3} running  {candidate_text(params)}")
        self.refresh()

    def finished(self, row: dict) -> None:
        self.running.pop(row["number"], None)
        self.finished_order.append(row["number"])
        if not self.live_mode and not row.get("known") and "duplicate_of" not in row:
            self.echo(self._row_line(row) + " | " + self.status_text())
        self.refresh()

    def line(self, text: str) -> None:
        if self.live is not None:
            self.live.console.print(text, markup=False, highlight=False)
        else:
            self.echo(text)

    def refresh(self) -> None:
        if self.live is not None:
            self.live.update(self._table())

    def stop(self) -> None:
        if self.live is not None:
            self.live.update(self._table())
            self.live.stop()
            self.live = None

    # -- what is shown ------------------------------------------------------------------------------------
    def best(self) -> tuple[dict | None, dict | None]:
        """The most accurate completed trial and the cheapest (by the search's cost objective)."""
        done = [r for r in self.run.rows.values() if r["status"] == "complete"]
        if not done:
            return None, None
        cost = "instructions" if self.run.objective == "instructions" else "ram"
        key = (lambda r: r.get("instructions") or 0) if cost == "instructions" else (lambda r: r["plan"]["ram_bytes"])
        return max(done, key=lambda r: (r["accuracy"], -key(r))), min(done, key=lambda r: (key(r), -r["accuracy"]))

    def eta(self) -> str:
        now = time.perf_counter()
        if self.deadline is not None and self.n_target is None:
            return f"~{format_seconds(max(0.0, self.deadline - now))} left"
        done = self.run.counted() - self.counted0
        left = (self.n_target or 0) - self.run.counted()
        if done <= 0:
            return "time left unknown"
        return f"~{format_seconds((now - self.t0) / done * max(0, left))} left"

    def status_text(self) -> str:
        rows = list(self.run.rows.values())
        count = {k: sum(1 for r in rows if r["status"] == k and "duplicate_of" not in r)
                 for k in ("complete", "pruned", "rejected", "failed")}
        top, cheap = self.best()
        best = ""
        if top is not None:
            unit = " instr" if self.run.objective == "instructions" else " B RAM"
            cost = cheap.get("instructions") if self.run.objective == "instructions" else cheap["plan"]["ram_bytes"]
            best = (f"best accuracy {top['accuracy']:.3f} (#{top['number']}), lowest {self.run.objective} "
                    f"{cost:,}{unit} (#{cheap['number']}); ")
        goal = f"/{self.n_target}" if self.n_target is not None else ""
        return (f"{self.run.counted()}{goal} trained ({count['complete']} measured, {count['pruned']} pruned, "
                f"{count['failed']} failed), {count['rejected']} rejected before training; {best}{self.eta()}")

    def _row_line(self, r: dict) -> str:
        plan = r.get("plan") or {}
        what = (f"accuracy {r['accuracy']:.3f}, {_n(r.get('instructions'))} instructions" if r["status"] == "complete"
                else r.get("reason") or r.get("error") or "")
        return (f"trial {r['number']:>3} {r['status']:<8} {r.get('candidate') or candidate_text(r['params'])}: RAM "
                f"{_n(plan.get('ram_bytes'))} B, flash {_n(plan.get('flash_bytes'))} B; {what} "
                f"({r.get('seconds', 0):.1f} s)")

    def _table(self):
        from rich.table import Table

        table = Table(title=self.status_text() if self.run else "", title_justify="left", expand=False)
        for col, just in (("#", "right"), ("candidate", "left"), ("status", "left"), ("RAM B", "right"),
                          ("flash B", "right"), ("val acc", "right"), ("instructions", "right"), ("s", "right")):
            table.add_column(col, justify=just)
        now = time.perf_counter()
        for number, (params, t) in sorted(self.running.items()):
            table.add_row(str(number), candidate_text(params), "running", "", "", "", "", f"{now - t:.0f}")
        recent = [self.run.rows[n] for n in self.finished_order[::-1] if n in self.run.rows]
        for r in recent[:max(0, SHOWN - len(self.running))]:
            plan = r.get("plan") or {}
            acc = f"{r['accuracy']:.3f}" if r.get("accuracy") is not None else ""
            status = r["status"] + (" (repeat)" if "duplicate_of" in r and r["status"] != "repeat" else "")
            table.add_row(str(r["number"]), r.get("candidate") or candidate_text(r["params"]), status,
                          _n(plan.get("ram_bytes")), _n(plan.get("flash_bytes")), acc, _n(r.get("instructions")),
                          f"{r.get('seconds', 0):.0f}")
        return table


__all__ = ["Progress"]
