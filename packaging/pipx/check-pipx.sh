#!/usr/bin/env bash
# Proves that the project's wheel installs and runs with pipx, the way a person without the .deb installs it:
#   1. builds the wheel (pip wheel --no-deps) from a clean copy of the repository,
#   2. `pipx install`s it into a private PIPX_HOME with the CPU build of torch preinstalled (--preinstall, so that
#      resolving the project's `torch>=2.5` never pulls a CUDA build),
#   3. runs `captionist --version` and a headless `captionist transcribe` of a short WAV with a tiny random-weight
#      checkpoint (written by the repository's test fixtures with the development environment),
#   4. `pipx uninstall`s it and checks that its environment and command are gone.
# No desktop files: a wheel has no place for them (the .deb installs those; packaging/linux/check-deb.sh).
#
#   packaging/pipx/check-pipx.sh
#
# Needs no root and touches nothing outside a temporary folder (pipx itself is installed into a temporary virtual
# environment). Environment: CAPTIONIST_TEST_PYTHON, the Python that writes the tiny checkpoint (default: the
# repository's .venv, made by test.sh); CAPTIONIST_PIPX_PYTHON, the Python pipx builds the environment with (default
# /usr/bin/python3). Exits non-zero with a message on any failure; the temporary folder is always removed.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
TORCH_VERSION="2.13.0"
TEST_PYTHON="${CAPTIONIST_TEST_PYTHON:-$REPO/.venv/bin/python}"
PYTHON="${CAPTIONIST_PIPX_PYTHON:-/usr/bin/python3}"

PROG=check-pipx
. "$REPO/packaging/lib.sh"

[ -x "$PYTHON" ] || fail "$PYTHON is missing (set CAPTIONIST_PIPX_PYTHON)"
[ -x "$TEST_PYTHON" ] || fail "$TEST_PYTHON is missing: run ./test.sh once (or set CAPTIONIST_TEST_PYTHON)"
START=$SECONDS
T="$(mktemp -d "${TMPDIR:-/var/tmp}/captionist-pipx.XXXXXX")"
trap 'rm -rf "$T"' EXIT
trap 'exit 130' INT TERM
# pipx keeps everything here, never in ~/.local: its environments, the command links, the manual pages.
export PIPX_HOME="$T/pipx" PIPX_BIN_DIR="$T/bin" PIPX_MAN_DIR="$T/man"
unset PIPX_DEFAULT_PYTHON

# --- The wheel, from a clean copy (no build/ or *.egg-info written into the repository) --------------------------
copy_sources "$T/src"
say "installing pipx into a temporary environment"
"$PYTHON" -m venv "$T/tools"
"$T/tools/bin/python" -m pip install -q --upgrade pip pipx || fail "cannot install pipx"
PIPX="$T/tools/bin/pipx"
say "building the wheel"
"$T/tools/bin/python" -m pip wheel -q --no-deps -w "$T/dist" "$T/src" || fail "pip wheel --no-deps"
WHEEL="$(ls "$T"/dist/captionist-*.whl)"
VERSION="$(basename "$WHEEL" | cut -d- -f2)"
ok "$(basename "$WHEEL")"

# --- pipx install -------------------------------------------------------------------------------------------------
say "pipx install (torch==$TORCH_VERSION+cpu preinstalled) with $PYTHON"
t0=$SECONDS
# The CPU build comes from pip's configured indexes or wheel folders when they have it, else from PyTorch's CPU index
# (what a person would type: pipx install --preinstall torch==2.13.0+cpu
#  --pip-args="--extra-index-url https://download.pytorch.org/whl/cpu" captionist-*.whl).
if ! "$PIPX" install --python "$PYTHON" --preinstall "torch==$TORCH_VERSION+cpu" "$WHEEL" >"$T/pipx-install.log" 2>&1; then
  say "not found in pip's configured indexes; trying https://download.pytorch.org/whl/cpu"
  "$PIPX" install --force --python "$PYTHON" --preinstall "torch==$TORCH_VERSION+cpu" \
    --pip-args="--extra-index-url https://download.pytorch.org/whl/cpu" "$WHEEL" >>"$T/pipx-install.log" 2>&1 ||
    { tail -30 "$T/pipx-install.log" >&2; fail "pipx install $WHEEL"; }
fi
ok "pipx install in $((SECONDS - t0)) s"
VENV_PY="$PIPX_HOME/venvs/captionist/bin/python"
[ -x "$VENV_PY" ] || fail "pipx made no environment at $PIPX_HOME/venvs/captionist"
TORCH="$("$VENV_PY" -B -W ignore -c 'import torch; print(torch.__version__, torch.version.cuda or "cpu")')"
[ "$TORCH" = "$TORCH_VERSION+cpu cpu" ] || fail "the environment's torch is \"$TORCH\", not the CPU build $TORCH_VERSION+cpu"
ok "torch $TORCH"
[ -x "$PIPX_BIN_DIR/captionist" ] || fail "pipx did not expose the captionist command in $PIPX_BIN_DIR"

# --- The command --------------------------------------------------------------------------------------------------
# A clean environment: only pipx's command folder and the system's on the PATH, fresh home and XDG folders.
mkdir -p "$T/home"
as_user() {
  env -i PATH="$PIPX_BIN_DIR:/usr/bin:/bin" HOME="$T/home" LANG=C.UTF-8 XDG_CONFIG_HOME="$T/home/.config" \
    XDG_DATA_HOME="$T/home/.local/share" XDG_CACHE_HOME="$T/home/.cache" HF_HUB_OFFLINE=1 "$@"
}
[ "$(as_user sh -c 'command -v captionist')" = "$PIPX_BIN_DIR/captionist" ] || fail "captionist is not pipx's command"
VERSION_LINE="$(as_user captionist --version)" || fail "captionist --version"
[ "$VERSION_LINE" = "captionist $VERSION" ] || fail "captionist --version printed \"$VERSION_LINE\", not captionist $VERSION"
ok "captionist --version: $VERSION_LINE"

smoke_inputs "$TEST_PYTHON" "$T"
t0=$SECONDS
as_user captionist transcribe "$T/speech.wav" --model "$T/model" --offline --device cpu --format json \
  -o "$T/speech.json" >"$T/transcribe.log" 2>&1 ||
  { rc=$?; cat "$T/transcribe.log" >&2; fail "captionist transcribe exited with status $rc"; }
"$PYTHON" -B -c 'import json, sys; d = json.load(open(sys.argv[1])); assert d["format"] == "captionist-transcript"' \
  "$T/speech.json" || fail "captionist transcribe wrote no valid JSON transcript"
ok "captionist transcribe (tiny checkpoint, --offline) in $((SECONDS - t0)) s"
INSTALLED_DU="$(du -sh "$PIPX_HOME/venvs/captionist" | cut -f1)"

# --- pipx uninstall -----------------------------------------------------------------------------------------------
"$PIPX" uninstall captionist >"$T/pipx-uninstall.log" 2>&1 || { cat "$T/pipx-uninstall.log" >&2; fail "pipx uninstall"; }
[ -e "$PIPX_HOME/venvs/captionist" ] && fail "pipx uninstall left $PIPX_HOME/venvs/captionist"
[ -e "$PIPX_BIN_DIR/captionist" ] || [ -L "$PIPX_BIN_DIR/captionist" ] && fail "pipx uninstall left $PIPX_BIN_DIR/captionist"
ok "pipx uninstall removed the environment and the command"
say "passed in $((SECONDS - START)) s; wheel $(du -h "$WHEEL" | cut -f1); environment $INSTALLED_DU installed"
