"""The build recipe: one call per stage in order, a sanity check between stages, an all-or-nothing output folder."""
from __future__ import annotations

import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from toolkit import stages
from toolkit.config import BuildConfig
from toolkit.errors import OutputError
from toolkit.targets import get_target

RECIPE = (
    ("dataset", stages.stage_dataset),
    ("model", stages.stage_model),
    ("train", stages.stage_train),
    ("quantize", stages.stage_quantize),
    ("export", stages.stage_export),
    ("android", stages.stage_android),
    ("report", stages.stage_report),
    ("codegen", stages.stage_codegen),
    ("verify", stages.stage_verify),
)


@dataclass(frozen=True)
class BuildResult:
    out_dir: Path
    report: dict
    seconds: float
    stage_seconds: dict
    notes: tuple[str, ...]


def _missing_parents(folder: Path) -> list[Path]:
    """The folders above `folder` that do not exist yet, innermost first (a failed build removes them again)."""
    out = []
    for p in folder.parents:
        if p.exists():
            break
        out.append(p)
    return out


def _prepare_output(cfg: BuildConfig) -> tuple[Path, Path]:
    """Check the output folder and make a staging folder beside it (same file system, so publishing is a rename)."""
    final = cfg.out_dir.resolve()
    if final.exists() and not final.is_dir():
        raise OutputError(f"output path {final} is a file", hint="choose another --out")
    if final.exists() and any(final.iterdir()) and not cfg.force:
        raise OutputError(f"output folder {final} already exists and is not empty",
                          hint="choose another --out, or pass --force to replace it")
    parent = final.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{final.name}.partial-", dir=parent))
        umask = os.umask(0)
        os.umask(umask)
        staging.chmod(0o777 & ~umask)  # mkdtemp makes it private; the published folder is an ordinary one
    except OSError as exc:
        raise OutputError(f"cannot write the output folder {final}: {exc.strerror}",
                          hint="choose a writable --out") from None
    return final, staging


def _publish(staging: Path, final: Path) -> None:
    """Replace `final` by `staging`; the old folder is removed only once the new one is in place."""
    old = None
    if final.exists():
        old = final.with_name(f".{final.name}.old-{os.getpid()}")
        final.rename(old)
    try:
        staging.rename(final)
    except OSError:
        if old is not None:
            old.rename(final)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def run(cfg: BuildConfig, log=print) -> BuildResult:
    """Run every stage of `edgecnn build`; on any error (or Ctrl-C) nothing is left half-written."""
    target = get_target(cfg.target)
    made = _missing_parents(cfg.out_dir.resolve())
    final, staging = _prepare_output(cfg)
    ctx = stages.Context(cfg=cfg, target=target, out=staging, log=log)
    timings: dict[str, float] = {}
    start = time.perf_counter()
    try:
        for name, stage in RECIPE:
            t0 = time.perf_counter()
            try:
                skipped = stage(ctx)
            except OSError as exc:  # a full disk, a vanished folder: say where, not a traceback
                where = exc.filename or staging
                raise OutputError(f"the {name} stage failed on {where}: {exc.strerror or exc}",
                                  hint="check that path (free disk space, permissions); any previous output "
                                       "is intact") from None
            stages.check_between_stages(ctx, name)
            if skipped:
                log(f"{name:<9} skipped: {skipped}")
                continue
            timings[name] = round(time.perf_counter() - t0, 2)
            log(f"{name:<9} done in {timings[name]:.1f} s")
        try:
            _publish(staging, final)
        except OSError as exc:
            raise OutputError(f"cannot move the build into {final}: {exc.strerror}") from None
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        for folder in made:  # an empty build/ left by a failed first build is no output either
            try:
                folder.rmdir()
            except OSError:
                break
        raise
    return BuildResult(out_dir=final, report=ctx.report, seconds=round(time.perf_counter() - start, 2),
                       stage_seconds=timings, notes=tuple(ctx.notes))
