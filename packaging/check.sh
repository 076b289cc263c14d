#!/usr/bin/env bash
# The package checks, run by CI after the test suite (./test.sh, which sets up .venv): builds the .deb, installs it
# with apt, runs it (command line and window) and purges it; then installs the wheel with pipx, runs it and
# uninstalls it. Each leaves nothing behind. About 3 minutes on 2 cores; needs root (or sudo) and apt.
set -euo pipefail
cd "$(dirname "$0")/.."
CAPTIONIST_CHECK_DEB=1 CAPTIONIST_CHECK_PIPX=1 .venv/bin/python -m pytest -q -p no:cacheprovider tests/packaging "$@"
