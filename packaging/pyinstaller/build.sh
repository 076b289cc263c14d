#!/usr/bin/env bash
# Builds Captionist with PyInstaller (packaging/pyinstaller/captionist.spec) on Linux or macOS: a onedir folder on
# Linux, Captionist.app on macOS (packaging/macos/build-app.sh signs it and makes the DMG). Windows has
# packaging/windows/build.ps1, which runs the same spec.
#
#   packaging/pyinstaller/build.sh [--out DIR] [--venv DIR]
#
#   --out DIR   where the build goes (default: dist/pyinstaller in the repository): DIR/captionist/ on Linux,
#               DIR/Captionist.app on macOS; its path is printed on the last line.
#   --venv DIR  the build environment: made there when missing and kept, so that a later build skips installing
#               torch and the other dependencies again (the project itself is reinstalled every time). Default: a
#               temporary environment, removed at the end.
#
# The environment gets torch first, the CPU build (torch==2.13.0+cpu on Linux; on macOS PyPI's torch==2.13.0,
# which has no CUDA), then the project's wheel built from a clean copy of the repository (not an editable install:
# PyInstaller must freeze the installed package, and the build must not write build/ or *.egg-info into the
# repository), then PyInstaller. Nothing is written into the repository but DIR.
# Environment: CAPTIONIST_PYI_PYTHON, the Python to build with (default: python3); the bundle carries that Python.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
SPEC="$REPO/packaging/pyinstaller/captionist.spec"
TORCH_VERSION="2.13.0"
# Pinned so that a build is repeatable: a newer PyInstaller or newer hooks can collect different files.
PYINSTALLER="pyinstaller==6.22.3"
HOOKS="pyinstaller-hooks-contrib==2026.9"

PROG=pyinstaller-build
. "$REPO/packaging/lib.sh"

OUT="$REPO/dist/pyinstaller"
VENV=""
while [ $# -gt 0 ]; do
  case "$1" in
    --out) [ $# -ge 2 ] || fail "--out needs a folder"; OUT="$2"; shift ;;
    --out=*) OUT="${1#--out=}" ;;
    --venv) [ $# -ge 2 ] || fail "--venv needs a folder"; VENV="$2"; shift ;;
    --venv=*) VENV="${1#--venv=}" ;;
    -h|--help) sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) fail "unknown argument: $1 (see --help)" ;;
  esac
  shift
done

case "$(uname -s)" in
  Linux) OS=linux ;;
  Darwin) OS=macos ;;
  *) fail "this script builds on Linux and macOS; on Windows run packaging/windows/build.ps1" ;;
esac
PYTHON="${CAPTIONIST_PYI_PYTHON:-python3}"
command -v "$PYTHON" >/dev/null || fail "$PYTHON is missing (set CAPTIONIST_PYI_PYTHON)"
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 10))' || fail "Captionist needs Python >= 3.10"
"$PYTHON" -c 'import ensurepip, venv' 2>/dev/null ||
  fail "$PYTHON has no venv module (Debian: apt-get install python3-venv)"
# PyInstaller bundles the interpreter's shared library; a Python built without one (some pyenv builds) cannot be
# frozen.
"$PYTHON" -c 'import sys, sysconfig; sys.exit(not (sysconfig.get_config_var("Py_ENABLE_SHARED") or
  sysconfig.get_config_var("PYTHONFRAMEWORK")))' ||
  fail "$PYTHON was built without a shared libpython (--enable-shared), which PyInstaller needs"

mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
# /var/tmp rather than /tmp, which may be a RAM disk: the environment and PyInstaller's work folder are gigabytes.
WORK="$(mktemp -d "${TMPDIR:-/var/tmp}/captionist-pyi.XXXXXX")"
KEEP_VENV=1
if [ -z "$VENV" ]; then VENV="$WORK/venv"; KEEP_VENV=0; fi
trap 'rm -rf "$WORK"' EXIT
trap 'exit 130' INT TERM
START=$SECONDS

# --- A clean copy of the sources ------------------------------------------------------------------------------
# Only what git tracks or would track (no .venv, caches or earlier builds); the wheel is built from the copy.
copy_sources "$WORK/src"

# --- The build environment -------------------------------------------------------------------------------------
if [ -x "$VENV/bin/python" ]; then
  say "reusing the build environment $VENV"
else
  say "creating the build environment $VENV with $PYTHON ($("$PYTHON" -c 'import sys; print(sys.version.split()[0])'))"
  "$PYTHON" -m venv "$VENV"
fi
PY="$VENV/bin/python"
PIP=("$PY" -m pip)
"${PIP[@]}" install -q --upgrade pip

# torch first, with the same pip, so that installing the project (torch>=2.5) never pulls a CUDA build.
t0=$SECONDS
if [ "$OS" = linux ]; then
  install_cpu_torch "$TORCH_VERSION" "$WORK/torch.err" "${PIP[@]}" install -q
else
  # PyPI's macOS wheels are the only macOS builds (CPU, and Metal through MPS; never CUDA).
  "${PIP[@]}" install -q "torch==$TORCH_VERSION" || fail "cannot install torch==$TORCH_VERSION"
fi
TORCH_SEEN="$("$PY" -B -W ignore -c 'import torch; print(torch.__version__, torch.version.cuda or "")')"
case "$TORCH_SEEN" in
  "$TORCH_VERSION"*" ") say "torch ${TORCH_SEEN% } (CPU build) in $((SECONDS - t0)) s" ;;
  *) fail "expected torch $TORCH_VERSION without CUDA in $VENV, found: $TORCH_SEEN" ;;
esac

say "building the project's wheel"
"${PIP[@]}" wheel -q --no-deps -w "$WORK/wheel" "$WORK/src"
WHEEL="$(ls "$WORK"/wheel/captionist-*.whl)"
[ "$(echo "$WHEEL" | wc -l)" = 1 ] || fail "expected one wheel, found: $WHEEL"
t0=$SECONDS
say "installing $(basename "$WHEEL"), its dependencies, $PYINSTALLER and $HOOKS"
"${PIP[@]}" install -q "$WHEEL" "$PYINSTALLER" "$HOOKS"
# A reused environment may hold an earlier build of the same version, which pip would keep: replace it.
"${PIP[@]}" install -q --no-deps --force-reinstall "$WHEEL"
"${PIP[@]}" check
[ "$("$PY" -B -W ignore -c 'import torch; print(torch.__version__, torch.version.cuda or "")')" = "$TORCH_SEEN" ] ||
  fail "installing the project replaced torch $TORCH_SEEN"
say "installed in $((SECONDS - t0)) s"

# --- PyInstaller ---------------------------------------------------------------------------------------------------
# Run from the work folder with a clean Python path, so that the spec's `import app.identity` and the analysis find
# the installed project, never the checkout (which is not on the path: the spec lives two folders below it).
t0=$SECONDS
say "running PyInstaller on $(basename "$SPEC") into $OUT"
(cd "$WORK" && env -u PYTHONPATH -u PYTHONHOME PYTHONNOUSERSITE=1 \
   "$PY" -m PyInstaller --noconfirm --clean --log-level WARN \
   --distpath "$OUT" --workpath "$WORK/pyinstaller" "$SPEC") ||
  fail "PyInstaller failed"
PYI_S=$((SECONDS - t0))

if [ "$OS" = linux ]; then RESULT="$OUT/captionist"; EXE="$RESULT/captionist"
else RESULT="$OUT/Captionist.app"; EXE="$RESULT/Contents/MacOS/Captionist"; fi
[ -x "$EXE" ] || fail "PyInstaller did not make $EXE"
"$EXE" --version || fail "the frozen $EXE --version failed"
SIZE_MIB="$(du -sk "$RESULT" | awk '{printf "%d", $1 / 1024}')"
say "built in $((SECONDS - START)) s (PyInstaller $PYI_S s): $RESULT, $SIZE_MIB MiB," \
    "$(find "$RESULT" -type f | wc -l | tr -d ' ') files"
if [ "$KEEP_VENV" = 1 ]; then say "the build environment stays in $VENV (--venv)"; fi
echo "$RESULT"
