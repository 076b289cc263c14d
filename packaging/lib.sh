# shellcheck shell=bash
# Shared by the packaging scripts, which source it after setting PROG (the name their messages start with) and REPO
# (the repository's root): messages, a clean copy of the sources, the CPU build of torch, a smoke test's inputs.

say() { echo "$PROG: $*"; }
ok() { echo "$PROG: ok: $*"; }
fail() { echo "$PROG: FAILED: $*" >&2; exit 1; }

# copy_sources DEST: what git tracks or would track into the empty folder DEST (no .venv, caches or earlier
# builds), so that a wheel is built from the copy and nothing (build/, *.egg-info) is written into the repository.
copy_sources() {
  mkdir -p "$1"
  if git -C "$REPO" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    # (The loop drops files deleted from the work tree but not yet from the index.)
    (cd "$REPO" && git ls-files -z --cached --others --exclude-standard |
       while IFS= read -r -d '' f; do if [ -e "$f" ]; then printf '%s\0' "$f"; fi; done |
       tar --null -T - -cf -) | tar -xf - -C "$1"
  else
    tar -C "$REPO" --exclude=.venv --exclude=.git --exclude=dist --exclude=build --exclude='*.egg-info' \
      --exclude=__pycache__ -cf - . | tar -xf - -C "$1"
  fi
}

# install_cpu_torch VERSION ERRORS PIP_INSTALL...: PIP_INSTALL (a pip install command with its options) installs
# torch==VERSION+cpu. The local label +cpu means pip cannot take a CUDA build by mistake; the wheel comes from pip's
# configured indexes or wheel folders when they have it, else from PyTorch's CPU index. ERRORS keeps the first
# attempt's errors.
install_cpu_torch() {
  local version="$1" errors="$2"
  shift 2
  if ! "$@" "torch==$version+cpu" 2>"$errors"; then
    say "torch==$version+cpu is not in pip's configured indexes; trying https://download.pytorch.org/whl/cpu"
    "$@" --extra-index-url https://download.pytorch.org/whl/cpu "torch==$version+cpu" ||
      { cat "$errors" >&2; fail "cannot install torch==$version+cpu"; }
  fi
}

# smoke_inputs PYTHON DIR [voxtral]: a tiny random checkpoint in DIR/model (and Voxtral Mini 3B's layout in
# DIR/voxtral), written by the repository's test fixtures with PYTHON, and a short speech WAV in DIR/speech.wav.
smoke_inputs() {
  say "writing a tiny random checkpoint${3:+ of each model kind} with $1"
  (cd "$REPO" && "$1" -B packaging/smoke_inputs.py "$2" ${3:+--voxtral}) || fail "cannot write the smoke test's inputs"
}
