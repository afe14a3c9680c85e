"""`edgecnn search`: flags -> SearchSettings -> toolkit.search.study.run_search, and the summary it prints."""
from __future__ import annotations

import click

from toolkit.errors import ConfigError
from toolkit.targets import target_names


@click.command()
@click.option("--target", type=click.Choice(target_names(engine_only=True)), metavar="TARGET", default=None,
              help="the device to fit (`edgecnn targets`)")
@click.option("--dataset", default=None, help="digits, shapes, or a path (.npz, image folder, IDX folder)")
@click.option("--ram", default=None, help="RAM the engine may use: bytes or K/M (powers of 1024), e.g. 8K, 64KiB")
@click.option("--flash", default=None, help="flash the firmware may use, e.g. 256K, 1M")
@click.option("--latency-ms", type=float, default=None, help="time per inference at --clock, from the instructions "
              "counted on the emulated core at one instruction per cycle (a lower bound: leave headroom)")
@click.option("--clock", default=None, help="core clock for --latency-ms, e.g. 80M [default: a board target's own]")
@click.option("--trials", type=int, default=None, help="candidates to train (rejections before training are free)"
              " [default: 20, or no limit with --time]")
@click.option("--time", "time_limit", default=None, help="wall-clock limit instead, e.g. 30m, 1h")
@click.option("--objective", type=click.Choice(["auto", "instructions", "ram"]), default=None,
              help="the cost against accuracy: instructions on the emulated core, or engine RAM "
                   "[auto: instructions when the target has an emulated core]")
@click.option("--trial-epochs", type=int, default=None, help="epochs of each trial's short schedule [default: 6]")
@click.option("--final-epochs", type=int, default=None, help="epochs for the chosen model's full build "
              "[default: the build's schedule]")
@click.option("--no-build", is_flag=True, help="do not build the chosen model (report only)")
@click.option("--workers", type=int, default=None, help="local worker processes [default: one per core]")
@click.option("--ray", default=None, metavar="auto|HOST:PORT|ray://HOST:10001",
              help="run the trials on a Ray cluster: auto (the cluster this machine is a node of), its head's "
                   "HOST:PORT, or ray://HOST:10001 from outside it (Ray Client); every node needs edgecnn installed "
                   "and the data set at the same path")
@click.option("--resume", is_flag=True, help="continue the search in --out (after Ctrl-C or a crash); finished "
              "trials are kept")
@click.option("--seed", type=int, default=None, help="seed of the sampler, the data splits and every trial "
              "[default: 0]")
@click.option("--out", default=None, help="output folder [default: build/search-<dataset>]")
@click.option("--space", "narrow", multiple=True, metavar="DIM=V1,V2",
              help="search only these choices of a dimension (repeatable), e.g. --space conv=depthwise,grouped "
                   "--space learning_rate=0.003")
@click.option("--show-space", is_flag=True, help="list the search space and exit")
def search(target, dataset, ram, flash, latency_ms, clock, trials, time_limit, objective, trial_epochs, final_epochs,
           no_build, workers, ray, resume, seed, out, narrow, show_space):
    """Find the most accurate compact CNN that fits a device's RAM, flash and latency.

    Every candidate is planned first (engine RAM from the static memory plan, flash from the code generator
    for TARGET): one over budget is rejected before any training. Those that fit are trained briefly,
    quantized to int8 and measured on the emulated core. The study lives in OUT/study.db (Optuna); the
    Pareto front is written to OUT/search.md, search.json and search.png, and the most accurate candidate
    within the budget is built in full into OUT/best.

    \b
    Examples:
      edgecnn search --show-space --dataset shapes
      edgecnn search --target cortex-m4 --dataset digits --ram 8K --trials 20
      edgecnn search --target cortex-m4 --dataset shapes --ram 32K --flash 256K --latency-ms 20 --clock 80M
      edgecnn search --resume --out build/search-digits
      edgecnn search --target cortex-m4 --dataset digits --ram 8K --ray auto --trials 60
    """
    from toolkit.config import parse_duration

    from toolkit.search.space import parse_narrowing

    space = parse_narrowing(narrow)
    if show_space:
        click.echo(_space_text(dataset, space))
        return
    given = dict(target=target, dataset=dataset, ram=ram, flash=flash, latency_ms=latency_ms, clock=clock,
                 trials=trials, time_s=None, objective=objective, trial_epochs=trial_epochs, seed=seed,
                 space=space or None)
    if trials is not None and time_limit is not None:
        raise ConfigError("give --trials N or --time DURATION, not both")
    if time_limit is not None:
        given["time_s"] = parse_duration(time_limit, "--time")
        if given["time_s"] is None:
            raise ConfigError("--time needs a duration such as 30m or 1h")
    if resume:
        if out is None:
            raise ConfigError("--resume needs --out: the folder of the search to continue")
        given = _with_stored(out, given)
    for name in ("target", "dataset"):
        if given[name] is None:
            raise ConfigError(f"--{name} is missing", hint="`edgecnn search --help` shows an example")
    settings = _settings(given, final_epochs, no_build, workers, ray, resume, out)
    from toolkit.search.study import run_search

    outcome = run_search(settings)
    _print_outcome(outcome)


def _settings(g: dict, final_epochs, no_build, workers, ray, resume, out):
    from toolkit.search.budget import make_budget
    from toolkit.search.study import SearchSettings
    from toolkit.targets import get_target

    budget = make_budget(g["ram"], g["flash"], g["latency_ms"], g["clock"], get_target(g["target"]))
    if final_epochs is not None and final_epochs <= 0:
        raise ConfigError(f"--final-epochs must be a positive integer, got {final_epochs}")
    if ray is not None:
        from toolkit.search.backends import check_ray_address

        check_ray_address(ray)  # an address that does not answer stops here, before anything is written
    trials = g["trials"] if g["trials"] is not None else (None if g["time_s"] else 20)
    return SearchSettings(target=g["target"], dataset=g["dataset"], budget=budget, objective=g["objective"] or "auto",
                          trials=trials, time_seconds=g["time_s"],
                          epochs=g["trial_epochs"] if g["trial_epochs"] is not None else 6,
                          seed=g["seed"] if g["seed"] is not None else 0, out=out, workers=workers, ray=ray,
                          resume=resume, build=not no_build, final_epochs=final_epochs, space_choices=g["space"] or ())


def _with_stored(out, given: dict) -> dict:
    """--resume: every option left out takes the value the search was started with (a different value given
    again is refused by the study)."""
    from pathlib import Path

    from toolkit.search.study import stored_settings

    st = stored_settings(Path(out))
    budget = st.get("budget") or {}
    stored = dict(target=st.get("target"), dataset=st.get("dataset"), ram=budget.get("ram_bytes"),
                  flash=budget.get("flash_bytes"), latency_ms=budget.get("latency_ms"), clock=budget.get("clock_hz"),
                  objective=st.get("objective"), trial_epochs=st.get("epochs"), seed=st.get("seed"),
                  space=tuple((k, tuple(v)) for k, v in st.get("space_choices") or ()))
    merged = {k: (v if v is not None else stored.get(k)) for k, v in given.items()}
    if given["trials"] is None and given["time_s"] is None:
        merged["trials"], merged["time_s"] = st.get("trials"), st.get("time_seconds")
    if merged["latency_ms"] is None:
        merged["clock"] = given["clock"]
    return merged


def _space_text(dataset, narrow) -> str:
    from toolkit.search.space import Space

    if dataset is None:
        return Space(0, narrow).describe() + "\n(resolution applies to data sets with images of 16 px and up: give " \
                                            "--dataset)"
    from toolkit.datasets import load_dataset

    data = load_dataset(dataset)
    side = min(data.input_shape[:2]) if len(data.input_shape) == 3 else 0
    space = Space(side, narrow)
    return f"search space for {dataset} ({'x'.join(map(str, data.input_shape))}): {len(space.grid())} " \
           f"candidates\n" + space.describe()


def _print_outcome(outcome) -> None:
    s = outcome.summary
    click.echo(f"search done in {outcome.seconds:.0f} s: {s['trained']} trained ({s['measured']} measured, "
               f"{s['pruned']} pruned), {s['rejected_before_training']} rejected before training, "
               f"{s['failed']} failed")
    c = outcome.chosen
    if c is not None:
        cost = f"{c['instructions']:,} instructions" if c.get("instructions") else ""
        click.echo(f"  chosen: trial {c['number']}, {c['candidate']}: int8 accuracy {c['accuracy']:.4f} (validation), "
                   f"{c['test_accuracy']:.4f} (test); RAM {c['plan']['ram_bytes']:,} B, flash "
                   f"{c['plan']['flash_bytes']:,} B" + (f", {cost}" if cost else ""))
    if outcome.build is not None:
        rep = outcome.build.report
        click.echo(f"  built in full: {outcome.build.out_dir} (int8 test accuracy {rep['accuracy'].get('int8')}, "
                   f"RAM {rep['memory'].get('peak_ram_bytes'):,} B, flash {rep['memory'].get('flash_bytes'):,} B)")
    for note in outcome.notes:
        click.echo(f"  note: {note}")
    click.echo(f"  wrote {outcome.out_dir}/search.md, search.json, search.png")
    if c is None:
        from toolkit.errors import EdgecnnError

        raise EdgecnnError(f"no candidate was measured within the budget ({s['failed']} trials failed, "
                           f"{s['rejected_before_training']} rejected): see {outcome.out_dir}/search.md",
                           hint="raise the budget, give more --trials, or read the failures' errors there")


__all__ = ["search"]
