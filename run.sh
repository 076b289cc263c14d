#!/usr/bin/env bash
# Sets up Captionist in .venv on first use, then runs it; arguments go to the `captionist` command, e.g.
#   ./run.sh                             (the caption window; the first run asks where the model comes from)
#   ./run.sh --play meeting.wav          (captions of a file played as a live source, on the overlay)
#   ./run.sh stream meeting.wav          (the same in the terminal)
#   ./run.sh transcribe meeting.wav
set -euo pipefail
cd "$(dirname "$0")"
if [ ! -x .venv/bin/captionist ]; then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  # Audio I/O, and the libraries Qt needs to open windows on X11/XWayland.
  PACKAGES="libsndfile1 libportaudio2 libegl1 libgl1 libfontconfig1 libdbus-1-3 libxkbcommon-x11-0 libxcb-cursor0
    libxcb-icccm4 libxcb-keysyms1 libxcb-image0 libxcb-render-util0 libxcb-randr0 libxcb-shape0 libxcb-xinerama0
    libxcb-xkb1"
  if ! dpkg -s $PACKAGES >/dev/null 2>&1; then
    $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $PACKAGES >/dev/null
  fi
  python3 -m venv .venv
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e .
fi
exec .venv/bin/captionist "$@"
