#!/usr/bin/env bash
# Installs everything edgecnn needs on a fresh Debian/Ubuntu machine: the Cortex-M toolchain and emulator
# (Debian packages) and edgecnn itself with its Python dependencies (editable, with the test extras).
set -euo pipefail
cd "$(dirname "$0")"

DEBS=(gcc g++ make gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm valgrind)
missing=()
for pkg in "${DEBS[@]}"; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ]; then
    echo "install.sh: installing Debian packages: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    echo "install.sh: installing Debian packages with sudo: ${missing[*]}"
    sudo apt-get update -qq
    sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "install.sh: not root, so these Debian packages were not installed: ${missing[*]}" >&2
    echo "install.sh: run 'sudo apt-get install ${missing[*]}' (firmware and QEMU checks need them)," >&2
    echo "install.sh: then run this script again." >&2
    exit 1
  fi
fi

python3 -m pip install --quiet --disable-pip-version-check -e ".[full,test]"
echo "install.sh: edgecnn $(python3 -m pip show edgecnn 2>/dev/null | sed -n 's/^Version: //p') installed"
