#!/usr/bin/env bash
# Installs everything edgecnn needs on a fresh Debian/Ubuntu machine: the Cortex-M toolchain, emulator and
# Python venv support (Debian packages), then edgecnn and its exactly locked Python dependencies
# (requirements.lock, with hashes) into a virtual environment.
#
#   ./install.sh            install (idempotent: a second run changes nothing)
#   ./install.sh --relock   regenerate requirements.lock from pyproject.toml's ranges with uv, then install
#
# The virtual environment is the one already active ($VIRTUAL_ENV), else the project's own .venv; either
# way .venv/bin/ holds the `edgecnn` and `python` that the README's commands run.
set -euo pipefail
cd "$(dirname "$0")"

UV_VERSION=0.13.9   # the tool that writes requirements.lock
LOCK=requirements.lock
relock=0
for arg in "$@"; do
  case "$arg" in
    --relock) relock=1 ;;
    -h|--help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "install.sh: unknown option '$arg' (options: --relock, --help)" >&2; exit 2 ;;
  esac
done

say() { echo "install.sh: $*"; }
die() { echo "install.sh: $*" >&2; exit 1; }

# --- Debian packages -----------------------------------------------------------------------------------
DEBS=(gcc g++ make gcc-arm-none-eabi libnewlib-arm-none-eabi libstdc++-arm-none-eabi-newlib qemu-system-arm
      gdb-multiarch valgrind python3-venv python3-pip)
if command -v dpkg >/dev/null 2>&1; then
  missing=()
  for pkg in "${DEBS[@]}"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" -eq 0 ]; then
      say "installing Debian packages: ${missing[*]}"
      apt-get update -qq
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
      say "installing Debian packages with sudo: ${missing[*]}"
      sudo apt-get update -qq
      sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    else
      echo "install.sh: not root, so these Debian packages were not installed: ${missing[*]}" >&2
      echo "install.sh: run 'sudo apt-get install ${missing[*]}' (firmware, QEMU and venv need them)," >&2
      echo "install.sh: then run this script again." >&2
      exit 1
    fi
  fi
else
  say "no dpkg: not a Debian/Ubuntu system, so install by hand: ${DEBS[*]}"
fi

# --- Python and the virtual environment ----------------------------------------------------------------
PY=${PYTHON:-python3}
command -v "$PY" >/dev/null 2>&1 || die "no '$PY' on PATH: install Python 3.11 or newer (Debian: apt-get install python3)"
"$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' ||
  die "$("$PY" -V 2>&1) is too old: edgecnn needs Python 3.11 or newer (set PYTHON=/path/to/python3.11)"

if [ -n "${VIRTUAL_ENV:-}" ] && [ "$(cd "$VIRTUAL_ENV" && pwd -P)" != "$(pwd -P)/.venv" ]; then
  VENV=$VIRTUAL_ENV
  if [ ! -e .venv ] || [ -L .venv ]; then
    ln -sfn "$VENV" .venv
  else
    say "warning: installing into the active environment $VENV; .venv is another environment" >&2
  fi
  say "using the active virtual environment $VENV"
else
  VENV=$(pwd)/.venv
  if [ ! -x "$VENV/bin/python" ]; then
    say "creating the virtual environment .venv with $("$PY" -V 2>&1)"
    "$PY" -m venv "$VENV" 2>/dev/null ||
      die "'$PY -m venv' failed: install python3-venv (Debian: apt-get install python3-venv) and run again"
  fi
fi
VPY=$VENV/bin/python
pip_install() { "$VPY" -m pip install --quiet --disable-pip-version-check "$@"; }

if [ "$relock" -eq 1 ]; then
  pip_install "uv==$UV_VERSION"
  say "regenerating $LOCK from pyproject.toml"
  "$VENV/bin/uv" pip compile pyproject.toml --extra full --extra test --universal --python-version 3.11 \
    --constraint lock-constraints.txt --generate-hashes --quiet -o "$LOCK"
fi

# Every package at the exact version and hash in the lock; then edgecnn itself, editable, with no further
# resolution (its dependencies are the lock's) and the lock's setuptools as build backend.
say "installing the locked Python packages into $VENV"
pip_install --require-hashes -r "$LOCK"
pip_install --no-deps --no-build-isolation -e .
"$VPY" -m pip check >/dev/null || { "$VPY" -m pip check >&2; die "the environment is inconsistent (see above)"; }
say "edgecnn $("$VPY" -c 'import importlib.metadata as m; print(m.version("edgecnn"))') installed in $VENV;" \
    "run .venv/bin/edgecnn, or 'source .venv/bin/activate' first"
