#!/usr/bin/env bash
# Sets up and runs the whole test suite on a fresh Debian/Ubuntu machine: system packages, a virtual environment
# with the pinned CPU build of torch, the project with its test extras, then ruff and pytest. No GPU or model needed.
set -euo pipefail
cd "$(dirname "$0")"

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
# espeak-ng: synthetic speech; alsa-utils: short human recordings; libsndfile1/libportaudio2: audio I/O.
PACKAGES="espeak-ng alsa-utils libsndfile1 libportaudio2"
MISSING=""
for p in $PACKAGES; do dpkg -s "$p" >/dev/null 2>&1 || MISSING="$MISSING $p"; done
if [ -n "$MISSING" ]; then
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $MISSING >/dev/null
fi

python3 -m venv .venv
. .venv/bin/activate
python -m pip install -q --upgrade pip
python -m pip install -q torch==2.13.0          # pinned first, so nothing else pulls a CUDA build
python -m pip install -q -e ".[test]"

ruff check .
python -m pytest -q "$@"
