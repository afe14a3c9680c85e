"""Packaging: the lock pins every dependency within pyproject's ranges, and a wheel builds the default model."""
from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]


def _lock_pins() -> dict[str, list[tuple[Version, str]]]:
    """name -> [(version, marker text)] from requirements.lock (`name==version ; marker \\`)."""
    pins: dict[str, list[tuple[Version, str]]] = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        m = re.match(r"^([A-Za-z0-9_.-]+)==([^\s;\\]+)\s*(?:;\s*([^\\]+?))?\s*\\?$", line)
        if m:
            pins.setdefault(m.group(1).lower().replace("_", "-"), []).append((Version(m.group(2)), m.group(3) or ""))
    return pins


def _direct_requirements() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    return [Requirement(r) for r in project["dependencies"] + extras["full"] + extras["test"]]


def test_lock_pins_every_direct_dependency_within_its_range():
    pins = _lock_pins()
    env = default_environment()
    for req in _direct_requirements():
        if req.marker is not None and not req.marker.evaluate(env):
            continue
        name = req.name.lower().replace("_", "-")
        assert name in pins, f"{name} is in pyproject.toml but not in requirements.lock: ./install.sh --relock"
        for version, _ in pins[name]:
            assert req.specifier.contains(version, prereleases=True), \
                f"requirements.lock pins {name}=={version}, outside pyproject's {req.specifier}: ./install.sh --relock"


def test_lock_has_hashes_and_the_imported_extras():
    text = (ROOT / "requirements.lock").read_text()
    pins = _lock_pins()
    # every pin carries hashes (pip --require-hashes); sympy is imported by onnxruntime's quant_pre_process
    assert text.count("==") <= text.count("--hash=sha256:")
    assert "sympy" in pins and "setuptools" in pins


def test_running_environment_is_the_lock():
    """What the tests run on is what the lock says (CI installs from it into a fresh venv)."""
    from importlib.metadata import PackageNotFoundError, version
    from packaging.markers import Marker

    env = default_environment()
    wrong = []
    for name, entries in _lock_pins().items():
        for pinned, marker in entries:
            if marker and not Marker(marker).evaluate(env):
                continue
            try:
                have = Version(version(name))
            except PackageNotFoundError:
                wrong.append(f"{name} missing")
                continue
            if have != pinned:
                wrong.append(f"{name} {have} (lock: {pinned})")
    assert not wrong, "not installed from requirements.lock (run ./install.sh): " + ", ".join(wrong)


@pytest.mark.slow
def test_wheel_carries_the_templates_and_builds(tmp_path):
    """A non-editable install (a wheel) used to lack firmware_templates/, so code generation failed."""
    wheels = tmp_path / "wheels"
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                        "-w", str(wheels), str(ROOT)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    (wheel,) = wheels.glob("edgecnn-*.whl")
    site = tmp_path / "site"
    r = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(site),
                        str(wheel)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert (site / "firmware_templates" / "engine" / "ecnn_conv.c").is_file()
    # run from elsewhere, with the wheel's packages ahead of the editable checkout
    env = dict(os.environ, PYTHONPATH=str(site), PYTHONWARNINGS="ignore")
    work = tmp_path / "work"
    work.mkdir()
    r = subprocess.run([sys.executable, "-c", "import toolkit, deploy.engine.templates as t; print(toolkit.__file__); "
                        "print(t.TEMPLATE_DIR)"], capture_output=True, text=True, cwd=work, env=env, timeout=60)
    assert r.returncode == 0 and all(line.startswith(str(site)) for line in r.stdout.split()), r.stdout + r.stderr
    r = subprocess.run([sys.executable, "-m", "toolkit.cli", "build", "--target", "cortex-m", "--epochs", "1",
                        "--out", "out"], capture_output=True, text=True, cwd=work, env=env, timeout=600)
    assert r.returncode == 0, r.stderr
    assert (work / "out" / "firmware" / "engine" / "edgecnn_model.c").is_file()
    assert (work / "out" / "firmware" / "cortex-m4" / "Makefile").is_file()
