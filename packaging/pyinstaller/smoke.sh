#!/usr/bin/env bash
# Smoke-tests a Linux PyInstaller build of Captionist (packaging/pyinstaller/build.sh) on this machine:
#   1. the frozen `captionist --version` prints the project's version (read from the bundled metadata),
#   2. a headless `captionist transcribe --offline --device cpu` of a short WAV writes a JSON transcript, with a tiny
#      random-weight checkpoint of each model family (realtime, and Voxtral Mini 3B's layout), written by the
#      repository's test fixtures with the development environment,
#   3. the window opens under Xvfb (a visible window titled Captionist, found with xdotool), stays up for a few
#      seconds, and has an icon; with no icon theme to be found, that icon can only be the one in the bundle,
#   4. none of the runs printed a Python traceback (a module PyInstaller missed shows up as one).
#
#   packaging/pyinstaller/smoke.sh DIST
#
# DIST: the folder build.sh wrote (dist/pyinstaller, holding captionist/captionist) or the onedir folder itself.
# The program runs with a clean environment, fresh HOME and XDG folders, an empty XDG_DATA_DIRS and a working
# directory outside the repository, so that nothing but the bundle can supply its code, icons or data.
# Needs Xvfb, xdotool and xprop (apt-get install xvfb xdotool x11-utils; test.sh installs them), and espeak-ng for
# speech (else a two-second chord is used). Environment: CAPTIONIST_TEST_PYTHON, the Python that writes the tiny
# checkpoint (default: the repository's .venv, made by test.sh; it needs torch, transformers and safetensors).
# Exits non-zero with a message on the first failure; the temporary folder and the processes it started are
# always cleaned up.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
APP_ID="org.captionist.Captionist"
TEST_PYTHON="${CAPTIONIST_TEST_PYTHON:-$REPO/.venv/bin/python}"

PROG=pyinstaller-smoke
. "$REPO/packaging/lib.sh"

[ $# -eq 1 ] || { echo "usage: $0 DIST" >&2; exit 2; }
if [ -f "$1/captionist/captionist" ]; then BUNDLE="$1/captionist"; else BUNDLE="$1"; fi
BUNDLE="$(cd "$BUNDLE" 2>/dev/null && pwd)" || fail "no such folder: $1"
EXE="$BUNDLE/captionist"
[ -x "$EXE" ] && [ -d "$BUNDLE/_internal" ] || fail "$1 is not a PyInstaller onedir build of captionist" \
  "(expected captionist/captionist and captionist/_internal, as build.sh writes them)"
[ -x "$TEST_PYTHON" ] || fail "$TEST_PYTHON is missing: run ./test.sh once (or set CAPTIONIST_TEST_PYTHON)"
for tool in Xvfb xdotool xprop; do
  command -v "$tool" >/dev/null || fail "$tool is missing (apt-get install xvfb xdotool x11-utils)"
done
START=$SECONDS

T="$(mktemp -d "${TMPDIR:-/tmp}/captionist-pyi-smoke.XXXXXX")"
XVFB_PID=""
APP_PID=""
cleanup() {
  [ -n "$APP_PID" ] && kill "$APP_PID" 2>/dev/null || true
  [ -n "$XVFB_PID" ] && kill "$XVFB_PID" 2>/dev/null || true
  rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The frozen program as a person starts it: nothing from this shell's environment (no PYTHONPATH, no virtual
# environment), and no icon theme or data folder where an installed Captionist could have left its files.
mkdir -p "$T/home" "$T/runtime" "$T/no-data-dirs" "$T/cwd"
chmod 0700 "$T/runtime"
frozen() {
  (cd "$T/cwd" && env -i PATH=/usr/local/bin:/usr/bin:/bin HOME="$T/home" LANG=C.UTF-8 \
    XDG_CONFIG_HOME="$T/home/.config" XDG_DATA_HOME="$T/home/.local/share" XDG_CACHE_HOME="$T/home/.cache" \
    XDG_DATA_DIRS="$T/no-data-dirs" XDG_RUNTIME_DIR="$T/runtime" HF_HUB_OFFLINE=1 ${DISPLAY_VAR:+"$DISPLAY_VAR"} \
    "$EXE" "$@")
}
no_traceback() {  # $1: a log, $2: what wrote it
  if grep -q -E "Traceback \(most recent call last\)|ModuleNotFoundError|ImportError" "$1"; then
    cat "$1" >&2
    fail "$2 printed a Python traceback or import error (above): PyInstaller left something out"
  fi
}

# --- 1. --version ---------------------------------------------------------------------------------------------
EXPECTED="captionist $(cd "$REPO" && "$TEST_PYTHON" -B -c 'from app.identity import version; print(version())')"
VERSION_LINE="$(frozen --version 2>"$T/version.err")" || { cat "$T/version.err" >&2; fail "captionist --version"; }
[ "$VERSION_LINE" = "$EXPECTED" ] || fail "captionist --version printed \"$VERSION_LINE\", expected \"$EXPECTED\""
no_traceback "$T/version.err" "captionist --version"
ok "captionist --version: $VERSION_LINE"

# --- 2. A headless transcription ---------------------------------------------------------------------------------
smoke_inputs "$TEST_PYTHON" "$T" voxtral
t0=$SECONDS
frozen transcribe "$T/speech.wav" --model "$T/model" --offline --device cpu --format json \
  -o "$T/speech.json" >"$T/transcribe.log" 2>&1 ||
  { rc=$?; cat "$T/transcribe.log" >&2; fail "captionist transcribe exited with status $rc"; }
"$TEST_PYTHON" -B -c 'import json, sys; d = json.load(open(sys.argv[1])); assert isinstance(d, (dict, list)) and d' \
  "$T/speech.json" || fail "captionist transcribe wrote no valid JSON transcript"
no_traceback "$T/transcribe.log" "captionist transcribe"
ok "captionist transcribe (tiny realtime checkpoint, --offline, --device cpu) in $((SECONDS - t0)) s:" \
  "$(head -c 120 "$T/speech.json" | tr -s '\n ' ' ')..."

# The other model family (Voxtral Mini 3B's layout, tiny): its prompt goes through mistral-common's tokenizer and
# request classes (pydantic, pycountry, its audio helpers), which the realtime model does not use.
t0=$SECONDS
frozen transcribe "$T/speech.wav" --model "$T/voxtral" --offline --device cpu --format json \
  -o "$T/speech-voxtral.json" >"$T/transcribe-voxtral.log" 2>&1 ||
  { rc=$?; cat "$T/transcribe-voxtral.log" >&2; fail "captionist transcribe (Voxtral) exited with status $rc"; }
"$TEST_PYTHON" -B -c 'import json, sys; d = json.load(open(sys.argv[1])); assert d["timing"] == "estimated", d' \
  "$T/speech-voxtral.json" || fail "captionist transcribe (Voxtral) wrote no valid JSON transcript"
no_traceback "$T/transcribe-voxtral.log" "captionist transcribe (Voxtral)"
ok "captionist transcribe (tiny Voxtral checkpoint) in $((SECONDS - t0)) s"

# --- 3. The window under Xvfb -------------------------------------------------------------------------------------
N=110
while [ -e "/tmp/.X11-unix/X$N" ] || [ -e "/tmp/.X$N-lock" ]; do N=$((N + 1)); done
Xvfb ":$N" -screen 0 1600x1000x24 -nolisten tcp >"$T/xvfb.log" 2>&1 &
XVFB_PID=$!
for _ in $(seq 100); do [ -e "/tmp/.X11-unix/X$N" ] && break; sleep 0.1; done
[ -e "/tmp/.X11-unix/X$N" ] || { cat "$T/xvfb.log" >&2; fail "Xvfb :$N did not start"; }
DISPLAY_VAR="DISPLAY=:$N"
frozen --model "$T/model" --offline >"$T/gui.log" 2>&1 &
APP_PID=$!
WINDOW=""
t0=$SECONDS
for _ in $(seq 120); do  # up to 60 s: torch and the model load first
  WINDOW="$(DISPLAY=":$N" xdotool search --onlyvisible --name '^Captionist$' 2>/dev/null | head -1)" || true
  [ -n "$WINDOW" ] && break
  kill -0 "$APP_PID" 2>/dev/null || { cat "$T/gui.log" >&2; fail "captionist (the window) exited early"; }
  sleep 0.5
done
[ -n "$WINDOW" ] || { cat "$T/gui.log" >&2; fail "no visible window titled Captionist within 60 s"; }
ok "window $WINDOW titled \"$(DISPLAY=":$N" xdotool getwindowname "$WINDOW")\" shown after $((SECONDS - t0)) s"
sleep 5  # a few seconds with the window up: what runs after the first frame (model load, devices) must not crash
kill -0 "$APP_PID" 2>/dev/null || { cat "$T/gui.log" >&2; fail "captionist exited within 5 s of showing its window"; }
ICON_PROP="$(DISPLAY=":$N" timeout 10 xprop -id "$WINDOW" -notype 32c _NET_WM_ICON | head -c 200)" || true
case "$ICON_PROP" in
  *"_NET_WM_ICON ="*) ok "the window has an icon: the bundle's resources/icons (no icon theme was reachable)" ;;
  *) cat "$T/gui.log" >&2; fail "the window has no icon (_NET_WM_ICON: $ICON_PROP): resources/icons not bundled?" ;;
esac
WM_CLASS="$(DISPLAY=":$N" timeout 10 xprop -id "$WINDOW" WM_CLASS)" || fail "xprop WM_CLASS did not answer"
case "$WM_CLASS" in
  *"\"$APP_ID\""*) ok "$WM_CLASS" ;;
  *) fail "the window's WM_CLASS should name the application id $APP_ID; it is: $WM_CLASS" ;;
esac
kill "$APP_PID" 2>/dev/null || true
for _ in $(seq 50); do kill -0 "$APP_PID" 2>/dev/null || break; sleep 0.2; done
kill -9 "$APP_PID" 2>/dev/null || true
wait "$APP_PID" 2>/dev/null || true
APP_PID=""
no_traceback "$T/gui.log" "captionist (the window)"
kill "$XVFB_PID" 2>/dev/null || true
wait "$XVFB_PID" 2>/dev/null || true
XVFB_PID=""

say "passed in $((SECONDS - START)) s; bundle $BUNDLE: $(du -sh "$BUNDLE" | cut -f1)" \
    "($(du -s --block-size=1M "$BUNDLE" | cut -f1) MiB, $(find "$BUNDLE" -type f | wc -l) files)"
