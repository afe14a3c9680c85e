"""The search's report: the Pareto front of accuracy against instructions (or RAM) as search.md, search.json and
search.png, with the chosen candidate and how every other trial ended."""
from __future__ import annotations

import json
import os
from pathlib import Path

from toolkit.search.space import candidate_text


def cost_of(row: dict, objective: str):
    return row.get("instructions") if objective == "instructions" else row["plan"]["ram_bytes"]


def pareto(rows: list[dict], objective: str) -> list[dict]:
    """The measured trials no other measured trial beats on both accuracy (higher) and cost (lower), one per
    (accuracy, cost) point, cheapest first."""
    done = [r for r in rows if r["status"] == "complete" and "duplicate_of" not in r]
    front = []
    for r in done:
        a, c = r["accuracy"], cost_of(r, objective)
        if not any((o["accuracy"] >= a and cost_of(o, objective) <= c) and
                   (o["accuracy"] > a or cost_of(o, objective) < c) for o in done):
            if not any(f["accuracy"] == a and cost_of(f, objective) == c for f in front):
                front.append(r)
    return sorted(front, key=lambda r: cost_of(r, objective))


def choose(rows: list[dict], objective: str) -> dict | None:
    """The chosen candidate: the most accurate measured trial within the budget (the cheaper on a tie)."""
    front = pareto(rows, objective)
    return max(front, key=lambda r: (r["accuracy"], -cost_of(r, objective))) if front else None


def summarize(rows: list[dict], objective: str, settings, space, backend: str) -> dict:
    count = {k: sum(1 for r in rows if r["status"] == k and "duplicate_of" not in r)
             for k in ("complete", "pruned", "rejected", "failed")}
    rejected = [r for r in rows if r["status"] == "rejected"]
    trained = [r for r in rows if r["status"] in ("complete", "pruned") and "duplicate_of" not in r]
    checked = [r for r in trained if r.get("engine_ram_bytes") is not None]
    return {
        "trained": count["complete"] + count["pruned"], "measured": count["complete"], "pruned": count["pruned"],
        "failed": count["failed"], "rejected_before_training": sum(1 for r in rejected if not r.get("known")),
        "rejected_repeats": sum(1 for r in rejected if r.get("known")),
        "rejected_after_training": 0,  # every budget check happens on the plan, before training
        "repeats": sum(1 for r in rows if "duplicate_of" in r), "grid_size": len(space.grid()),
        "planned_ram_equals_engine_ram": (sum(1 for r in checked if r["engine_ram_bytes"] == r["plan"]["ram_bytes"]),
                                          len(checked)),
        "rejected_trained": sum(1 for r in rejected if r.get("curve")),
        "backend": backend, "objective": objective,
    }


def _json_safe(row: dict) -> dict:
    return {k: v for k, v in row.items() if k not in ("code_bytes", "traceback")}


def write_report(outcome, objective: str, settings) -> None:
    """search.json, search.md and search.png in the output folder (each written whole, then renamed)."""
    out = Path(outcome.out_dir)
    rows = sorted(outcome.rows, key=lambda r: r["number"])
    front = pareto(rows, objective)
    chosen = outcome.chosen
    build = None
    if outcome.build is not None:
        rep = outcome.build.report
        build = {"out_dir": str(outcome.build.out_dir), "accuracy": rep.get("accuracy"),
                 "peak_ram_bytes": rep["memory"].get("peak_ram_bytes"), "flash_bytes": rep["memory"].get("flash_bytes"),
                 "verify": (rep.get("verify") or None)}
        verify = out / "best" / "verify.json"
        if verify.is_file():
            v = json.loads(verify.read_text())
            build["verify"] = {k: v.get(k) for k in ("device", "samples", "bit_exact", "instructions_per_inference")}
    doc = {"settings": {**settings.study_dict(), "trials": settings.trials, "time_seconds": settings.time_seconds},
           "summary": outcome.summary, "pareto": [r["number"] for r in front],
           "chosen": chosen["number"] if chosen else None, "build": build, "seconds": outcome.seconds,
           "notes": outcome.notes, "trials": [_json_safe(r) for r in rows]}
    _write(out / "search.json", json.dumps(doc, indent=1, default=str))
    _write(out / "search.md", render_markdown(doc, rows, front, objective, settings))
    plot(rows, front, chosen, objective, out / "search.png", settings)


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def render_markdown(doc: dict, rows: list[dict], front: list[dict], objective: str, settings) -> str:
    s, summary = doc["settings"], doc["summary"]
    unit = "instructions" if objective == "instructions" else "RAM B"
    ok, of = summary["planned_ram_equals_engine_ram"]
    lines = [f"# edgecnn search: {s['dataset']} for {s['target']}", "",
             f"Budget: {settings.budget.text()}. Objectives: int8 validation accuracy (up) and {objective} (down). "
             f"{summary['trained']} candidates trained ({summary['measured']} measured, {summary['pruned']} pruned "
             f"early), {summary['rejected_before_training']} rejected before training, {summary['failed']} failed, "
             f"{summary['repeats'] + summary['rejected_repeats']} repeated proposals answered from the study; the "
             "space has "
             f"{summary['grid_size']} candidates. Trials ran on {summary['backend']} in {doc['seconds']:.0f} s.", "",
             f"Planned RAM equals the generated engine's RAM for {ok} of {of} trained candidates.", "",
             "## Pareto front", "",
             f"| trial | candidate | int8 val acc | int8 test acc | {unit} | RAM B | flash B | MACs |",
             "|---:|---|---:|---:|---:|---:|---:|---:|"]
    for r in front:
        mark = " **chosen**" if r["number"] == doc["chosen"] else ""
        lines.append(f"| {r['number']}{mark} | {r['candidate']} | {r['accuracy']:.4f} | {r['test_accuracy']:.4f} | "
                     f"{cost_of(r, objective):,} | {r['plan']['ram_bytes']:,} | {r['plan']['flash_bytes']:,} | "
                     f"{r['plan']['macs']:,} |")
    if not front:
        lines.append("| | no candidate was measured within the budget | | | | | | |")
    lines += ["", "![accuracy against cost](search.png)", ""]
    if doc["build"]:
        b = doc["build"]
        acc = b.get("accuracy") or {}
        lines += ["## The chosen model, built in full", "",
                  f"`{b['out_dir']}`: int8 test accuracy {acc.get('int8')}, engine RAM {b['peak_ram_bytes']:,} B, "
                  f"flash {b['flash_bytes']:,} B" + (f"; verified on {b['verify']['device']}: bit-exact "
                                                     f"{b['verify']['bit_exact']}" if b.get("verify") else "") + ".",
                  ""]
    lines += ["## Every trial", "", "| trial | candidate | status | RAM B | flash B | val acc | cost | s | note |",
              "|---:|---|---|---:|---:|---:|---:|---:|---|"]
    for r in rows:
        plan = r.get("plan") or {}
        acc = f"{r['accuracy']:.4f}" if r.get("accuracy") is not None else ""
        cost = cost_of(r, objective) if r["status"] == "complete" else None
        note = r.get("reason") or r.get("error") or (f"repeat of trial {r['duplicate_of']}" if "duplicate_of" in r
                                                      else "")
        lines.append(f"| {r['number']} | {r.get('candidate') or candidate_text(r['params'])} | {r['status']} | "
                     f"{plan.get('ram_bytes', ''):,} | {plan.get('flash_bytes', ''):,} | {acc} | "
                     f"{'' if cost is None else f'{cost:,}'} | {r.get('seconds', 0):.1f} | {note.replace('|', '/')} |"
                     if plan else
                     f"| {r['number']} | {r.get('candidate', '')} | {r['status']} | | | | | {r.get('seconds', 0):.1f} | "
                     f"{note.replace('|', '/')} |")
    for note in doc["notes"]:
        lines += ["", f"Note: {note}"]
    return "\n".join(lines) + "\n"


def plot(rows: list[dict], front: list[dict], chosen: dict | None, objective: str, path: Path, settings) -> None:
    """search.png: every measured trial, the Pareto front joined, the chosen one starred."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    done = [r for r in rows if r["status"] == "complete" and "duplicate_of" not in r]
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=110)
    if done:
        ax.scatter([cost_of(r, objective) for r in done], [r["accuracy"] for r in done], s=22, color="#9aa5b1",
                   label="measured trials")
    if front:
        ax.plot([cost_of(r, objective) for r in front], [r["accuracy"] for r in front], "o-", color="#1f6feb",
                label="Pareto front")
    if chosen is not None:
        ax.scatter([cost_of(chosen, objective)], [chosen["accuracy"]], marker="*", s=220, color="#d29922",
                   zorder=5, label=f"chosen (trial {chosen['number']})")
    ax.set_xlabel("instructions per inference (emulated core)" if objective == "instructions" else "engine RAM (bytes)")
    ax.set_ylabel("int8 validation accuracy")
    ax.set_title(f"edgecnn search: {settings.dataset} for {settings.target} ({settings.budget.text()})", fontsize=10)
    ax.grid(alpha=0.3)
    if done:
        ax.legend(loc="lower right", fontsize=8)
    else:
        ax.text(0.5, 0.5, "no trial measured within the budget", ha="center", transform=ax.transAxes)
    fig.tight_layout()
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.png")
    fig.savefig(tmp)
    plt.close(fig)
    tmp.replace(path)


__all__ = ["pareto", "choose", "summarize", "write_report", "render_markdown", "plot", "cost_of"]
