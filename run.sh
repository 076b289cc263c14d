#!/usr/bin/env bash
# Sets up Captionist in .venv on first use, then runs it; arguments go to the `captionist` command, e.g.
#   ./run.sh stream meeting.wav          (a file played as a live source, captions as they are decoded)
#   ./run.sh transcribe meeting.wav
set -euo pipefail
cd "$(dirname "$0")"
if [ ! -x .venv/bin/captionist ]; then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  if ! dpkg -s libsndfile1 libportaudio2 >/dev/null 2>&1; then
    $SUDO apt-get update -qq && $SUDO apt-get install -y -qq libsndfile1 libportaudio2 >/dev/null
  fi
  python3 -m venv .venv
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e .
fi
exec .venv/bin/captionist "$@"
