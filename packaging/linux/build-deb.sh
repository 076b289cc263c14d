#!/usr/bin/env bash
# Builds the Debian/Ubuntu package of Captionist: a self-contained Python environment under /opt/captionist/venv
# (made with Debian's own /usr/bin/python3, so the package depends on that python3.X), torch and the project in it,
# a `captionist` command in /usr/bin, and the desktop entry, icons and AppStream metainfo from resources/.
#
#   packaging/linux/build-deb.sh [--cuda] [--out DIR]
#
#   --cuda     torch's CUDA build (torch 2.13.0 as PyPI has it, with NVIDIA's CUDA libraries: several GB) instead
#              of the CPU build (2.13.0+cpu); the package is then called captionist-cuda and replaces captionist.
#   --out DIR  where the .deb goes (default: dist/ in the repository); prints its path on the last line.
#
# Needs root (or sudo) because a virtual environment is not relocatable: it is built at its final path,
# /opt/captionist/venv, then moved into the package's staging tree, and /opt/captionist is removed again. The
# build refuses to start when /opt/captionist exists and is not the leftover of an interrupted build of this script
# (for instance while the package is installed: purge it first).
#
# Environment: CAPTIONIST_DEB_COMPRESSION (default "zstd"; "xz" for systems whose dpkg predates zstd support),
# DEBFULLNAME / DEBEMAIL for the Maintainer field.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
APP_ID="org.captionist.Captionist"
TORCH_VERSION="2.13.0"
PREFIX="/opt/captionist"
VENV="$PREFIX/venv"
MARKER="$PREFIX/.captionist-deb-build"  # says that $PREFIX is this script's work in progress, safe to remove
ICON_SIZES="16 22 24 32 48 64 128 256 512"
# System libraries: audio I/O (PortAudio through sounddevice, the system libsndfile through soundfile), and what the
# shared objects the program loads need directly (readelf -d NEEDED of torch, the PySide6 modules it imports -- QtCore,
# QtGui, QtWidgets, QtDBus, QtNetwork -- their Qt libraries and the xcb and wayland platform plugins), as run.sh's
# list plus what that readelf showed; apt brings the rest. The python3.X dependency is added below.
SYSTEM_DEPENDS="libc6, libgcc-s1, libstdc++6, zlib1g, libzstd1, libglib2.0-0, libdbus-1-3, libfontconfig1,
  libfreetype6, libgssapi-krb5-2, libsndfile1, libportaudio2, libegl1, libgl1, libx11-6, libx11-xcb1, libxcb1,
  libxcb-cursor0, libxcb-glx0, libxcb-icccm4, libxcb-image0, libxcb-keysyms1, libxcb-randr0, libxcb-render0,
  libxcb-render-util0, libxcb-shape0, libxcb-shm0, libxcb-sync1, libxcb-util1, libxcb-xfixes0, libxcb-xinerama0,
  libxcb-xkb1, libxkbcommon0, libxkbcommon-x11-0, libwayland-client0, libwayland-cursor0, libwayland-egl1"
# Capturing what the computer plays (the "Others" source) lists the sound server's sources with pactl and opens them
# through ALSA's pulse plugin (app/capture/devices.py); microphones work without them.
RECOMMENDS="pulseaudio-utils, libasound2-plugins | pipewire-alsa"

PROG=build-deb
. "$REPO/packaging/lib.sh"

CUDA=0
OUT="$REPO/dist"
while [ $# -gt 0 ]; do
  case "$1" in
    --cuda) CUDA=1 ;;
    --out) [ $# -ge 2 ] || fail "--out needs a folder"; OUT="$2"; shift ;;
    --out=*) OUT="${1#--out=}" ;;
    -h|--help) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) fail "unknown argument: $1 (see --help)" ;;
  esac
  shift
done
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || fail "needs root (or sudo) to build the environment at its final path, $PREFIX"
  SUDO="sudo"
fi

# --- What the build needs -------------------------------------------------------------------------------------
command -v dpkg-deb >/dev/null || fail "dpkg-deb is missing (Debian/Ubuntu only)"
[ -x /usr/bin/python3 ] || fail "/usr/bin/python3 is missing: apt-get install python3 python3-venv"
# The environment's interpreter is the versioned one (python3.11, not the python3 symlink), so that a later change
# of the distribution's default python3 cannot leave the environment with a different interpreter than it was
# built for; the package depends on exactly that python3.X.
PYVER="$(/usr/bin/python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
PYTHON="/usr/bin/python$PYVER"
/usr/bin/python3 -c 'import sys; sys.exit(sys.version_info < (3, 10))' ||
  fail "Captionist needs Python >= 3.10; /usr/bin/python3 is $PYVER"
"$PYTHON" -c 'import ensurepip, venv' 2>/dev/null || fail "the venv module is missing: apt-get install python$PYVER-venv"
ARCH="$(dpkg --print-architecture)"

missing=""
for f in "resources/linux/$APP_ID.desktop" "resources/linux/$APP_ID.metainfo.xml" "resources/icons/$APP_ID.svg"; do
  [ -f "$REPO/$f" ] || missing="$missing $f"
done
for n in $ICON_SIZES; do
  f="resources/icons/hicolor/${n}x${n}/apps/$APP_ID.png"
  [ -f "$REPO/$f" ] || missing="$missing $f"
done
[ -z "$missing" ] || fail "resource files missing from $REPO:$missing"

if [ "$CUDA" = 1 ]; then PACKAGE="captionist-cuda"; else PACKAGE="captionist"; fi

# --- /opt/captionist must be free (or our own leftover) -------------------------------------------------------
if dpkg-query -W -f '${db:Status-Abbrev}' captionist 2>/dev/null | grep -q '^.[iUFHWt]' ||
   dpkg-query -W -f '${db:Status-Abbrev}' captionist-cuda 2>/dev/null | grep -q '^.[iUFHWt]'; then
  fail "a captionist package is installed, and it owns $PREFIX; remove it first (apt-get purge captionist captionist-cuda)"
fi
if [ -e "$PREFIX" ]; then
  [ -f "$MARKER" ] || fail "$PREFIX exists and is not a previous build of this script (no $MARKER); not touching it"
  say "removing the leftover of an interrupted build in $PREFIX"
  $SUDO rm -rf "$PREFIX"
fi

# /var/tmp rather than /tmp, which may be a RAM disk: the staging tree is over a gigabyte.
WORK="$(mktemp -d "${TMPDIR:-/var/tmp}/captionist-deb.XXXXXX")"
cleanup() {
  # Only $PREFIX as this run made it (the marker is there until the environment has been moved away).
  if [ -f "$MARKER" ]; then $SUDO rm -rf "$PREFIX"; fi
  $SUDO rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
START=$SECONDS

# --- A clean copy of the sources ------------------------------------------------------------------------------
# The wheel is built from a copy, so the build never writes build/ or *.egg-info into the repository (where others
# may be working), and only what git tracks or would track goes in: no .venv, no caches.
copy_sources "$WORK/src"

# --- The environment, at its final path -----------------------------------------------------------------------
$SUDO mkdir -p "$PREFIX"
$SUDO touch "$MARKER"
say "creating $VENV with $PYTHON"
$SUDO "$PYTHON" -m venv "$VENV"
PIP=("$VENV/bin/python" -m pip)
$SUDO "${PIP[@]}" install -q --upgrade pip

say "building the project's wheel"
$SUDO "${PIP[@]}" wheel -q --no-deps -w "$WORK/wheel" "$WORK/src"
WHEEL="$(ls "$WORK"/wheel/captionist-*.whl)"
[ "$(echo "$WHEEL" | wc -l)" = 1 ] || fail "expected one wheel, found: $WHEEL"
PYPI_VERSION="$(basename "$WHEEL" | cut -d- -f2)"
# PEP 440 pre-releases (1.0rc1, 1.0.dev3) must sort before the release in Debian too: 1.0~rc1, 1.0~dev3.
DEB_VERSION="$(echo "$PYPI_VERSION" | sed -E 's/\.?(a|b|rc|dev)([0-9]*)/~\1\2/g')"

# torch first, with the same pip, so that installing the project never pulls another build of it.
# --no-compile everywhere: the .pyc files are made by postinst on the installing machine (and removed by prerm).
if [ "$CUDA" = 1 ]; then
  # PyPI's torch wheels for Linux are the CUDA builds, versioned without a local label. "===" is an exact string
  # match, so a CPU build of the same version (2.13.0+cpu, say in a wheel folder pip is configured with) cannot
  # satisfy it, while the user's pip configuration (mirrors, proxies) still applies.
  say "installing torch===$TORCH_VERSION (the CUDA build from PyPI)"
  $SUDO "${PIP[@]}" install -q --no-compile "torch===$TORCH_VERSION"
else
  say "installing torch==$TORCH_VERSION+cpu"
  install_cpu_torch "$TORCH_VERSION" "$WORK/torch.err" $SUDO "${PIP[@]}" install -q --no-compile
fi
# The build that was installed is checked, not assumed.
CUDA_SEEN="$($SUDO "$VENV/bin/python" -B -W ignore -c 'import torch; print(torch.version.cuda or "")')"
if [ "$CUDA" = 1 ] && [ -z "$CUDA_SEEN" ]; then fail "--cuda, but the torch installed is a CPU build"; fi
if [ "$CUDA" = 0 ] && [ -n "$CUDA_SEEN" ]; then fail "the torch installed is a CUDA $CUDA_SEEN build, not the CPU one"; fi
TORCH_SEEN="$($SUDO "$VENV/bin/python" -B -W ignore -c 'import torch; print(torch.__version__)')"
say "torch $TORCH_SEEN, ${CUDA_SEEN:+CUDA }${CUDA_SEEN:-CPU} build"

say "installing $(basename "$WHEEL") and its dependencies"
$SUDO "${PIP[@]}" install -q --no-compile "$WHEEL"
$SUDO "${PIP[@]}" check
# Still the same torch: nothing above may have replaced it.
[ "$($SUDO "$VENV/bin/python" -B -W ignore -c 'import torch; print(torch.__version__)')" = "$TORCH_SEEN" ] ||
  fail "installing the project replaced torch $TORCH_SEEN"
$SUDO env PYTHONDONTWRITEBYTECODE=1 "$VENV/bin/captionist" --version

# Bytecode is made on the installing machine (postinst) and must not be shipped half made: remove what pip, ensurepip
# and the runs above left.
$SUDO find "$VENV" -name __pycache__ -type d -prune -exec rm -rf {} +
$SUDO find "$VENV" -name '*.pyc' -type f -delete

# --- The staging tree -----------------------------------------------------------------------------------------
ROOT="$WORK/root"
$SUDO mkdir -p "$ROOT/opt" "$ROOT/DEBIAN"
$SUDO rm -f "$MARKER"
# mv: a rename when /tmp and /opt share a file system, else a copy; either way /opt/captionist is gone afterwards.
$SUDO mv "$PREFIX" "$ROOT/opt/"
$SUDO install -d "$ROOT/usr/bin" "$ROOT/usr/share/applications" "$ROOT/usr/share/metainfo" \
  "$ROOT/usr/share/icons/hicolor/scalable/apps" "$ROOT/usr/share/doc/$PACKAGE"

# The command on the PATH. A wrapper rather than a symlink: the environment is self-contained, so a PYTHONPATH or
# PYTHONHOME the user set for another Python must not reach it.
$SUDO tee "$ROOT/usr/bin/captionist" >/dev/null <<EOF
#!/bin/sh
# Captionist runs in its own Python environment, $VENV.
unset PYTHONHOME PYTHONPATH
exec $VENV/bin/captionist "\$@"
EOF
$SUDO chmod 0755 "$ROOT/usr/bin/captionist"

$SUDO install -m 0644 "$REPO/resources/linux/$APP_ID.desktop" "$ROOT/usr/share/applications/$APP_ID.desktop"
$SUDO install -m 0644 "$REPO/resources/linux/$APP_ID.metainfo.xml" "$ROOT/usr/share/metainfo/$APP_ID.metainfo.xml"
$SUDO install -m 0644 "$REPO/resources/icons/$APP_ID.svg" "$ROOT/usr/share/icons/hicolor/scalable/apps/$APP_ID.svg"
for n in $ICON_SIZES; do
  $SUDO install -D -m 0644 "$REPO/resources/icons/hicolor/${n}x${n}/apps/$APP_ID.png" \
    "$ROOT/usr/share/icons/hicolor/${n}x${n}/apps/$APP_ID.png"
done
$SUDO tee "$ROOT/usr/share/doc/$PACKAGE/copyright" >/dev/null <<EOF
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: captionist

Files: *
License: Apache-2.0
 On Debian systems the full text is in /usr/share/common-licenses/Apache-2.0.
 $PREFIX/venv holds third-party Python packages (torch, PySide6, numpy, ...) under their own licences, which
 are in their *.dist-info folders there.
EOF

# --- Maintainer scripts ---------------------------------------------------------------------------------------
$SUDO tee "$ROOT/DEBIAN/postinst" >/dev/null <<EOF
#!/bin/sh
set -e
if [ "\$1" = configure ]; then
  # Bytecode for the environment, made here rather than shipped (prerm removes it again). Some third-party
  # files are not valid Python 3 on purpose (templates, tests), so a failure to compile one is not an error.
  $PYTHON -m compileall -q -j 0 $VENV/lib >/dev/null 2>&1 || true
  # Menus and icon themes read caches; refresh them when the tools are there (many desktops use triggers anyway).
  if command -v gtk-update-icon-cache >/dev/null 2>&1 && [ -e /usr/share/icons/hicolor/index.theme ]; then
    gtk-update-icon-cache -q -f /usr/share/icons/hicolor || true
  fi
  if command -v update-desktop-database >/dev/null 2>&1; then
    update-desktop-database -q /usr/share/applications || true
  fi
fi
exit 0
EOF
$SUDO tee "$ROOT/DEBIAN/prerm" >/dev/null <<EOF
#!/bin/sh
set -e
# Bytecode is not in the package's file list (postinst made it, and Python may add more at run time): remove it
# all, so that dpkg can remove the folders it owns.
if [ -d $VENV ]; then
  find $VENV -name __pycache__ -type d -prune -exec rm -rf {} + 2>/dev/null || true
fi
exit 0
EOF
$SUDO tee "$ROOT/DEBIAN/postrm" >/dev/null <<EOF
#!/bin/sh
set -e
case "\$1" in
  remove|purge)
    if command -v gtk-update-icon-cache >/dev/null 2>&1 && [ -e /usr/share/icons/hicolor/index.theme ]; then
      gtk-update-icon-cache -q -f /usr/share/icons/hicolor || true
    fi
    if command -v update-desktop-database >/dev/null 2>&1; then
      update-desktop-database -q /usr/share/applications || true
    fi
    ;;
esac
if [ "\$1" = purge ] && [ -d $PREFIX ]; then
  # Anything written into the environment after installation (by hand, say) goes with the package.
  rm -rf $PREFIX
fi
exit 0
EOF
$SUDO chmod 0755 "$ROOT/DEBIAN/postinst" "$ROOT/DEBIAN/prerm" "$ROOT/DEBIAN/postrm"

# Installed-Size (KiB) counts the bytecode postinst will add: measured, 1.55 x the size of the .py files.
INSTALLED_KB="$($SUDO du -sk --exclude=DEBIAN "$ROOT" | cut -f1)"
PY_KB="$($SUDO find "$ROOT" -name '*.py' -type f -printf '%s\n' | awk '{s += $1} END {printf "%d", s / 1024}')"
INSTALLED_KB=$((INSTALLED_KB + PY_KB * 155 / 100))

if [ "$CUDA" = 1 ]; then
  VARIANT_FIELDS="Provides: captionist
Conflicts: captionist
Replaces: captionist"
  VARIANT="torch $TORCH_VERSION with CUDA $CUDA_SEEN (needs an NVIDIA driver)"
else
  VARIANT_FIELDS="Conflicts: captionist-cuda
Replaces: captionist-cuda"
  VARIANT="the CPU build of torch $TORCH_VERSION"
fi
DEPENDS="python$PYVER, $(echo "$SYSTEM_DEPENDS" | tr -s ' \n' ' ')"
$SUDO tee "$ROOT/DEBIAN/control" >/dev/null <<EOF
Package: $PACKAGE
Version: $DEB_VERSION
Architecture: $ARCH
Maintainer: ${DEBFULLNAME:-Captionist developers} <${DEBEMAIL:-captionist@localhost}>
Installed-Size: $INSTALLED_KB
Depends: $DEPENDS
Recommends: $RECOMMENDS
$VARIANT_FIELDS
Section: sound
Priority: optional
Description: live captions, meeting transcripts and questions about recordings
 Captionist shows live captions of what is said in a meeting, a video or the
 room, on your own machine: speech recognition runs locally. It also
 transcribes recordings (captionist transcribe FILE) and exports subtitles.
 .
 Self-contained: a Python environment in $PREFIX with $VARIANT.
EOF
# md5sums, for dpkg --verify and debsums.
(cd "$ROOT" && $SUDO find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | LC_ALL=C sort -z |
   $SUDO xargs -0 md5sum) | $SUDO tee "$ROOT/DEBIAN/md5sums" >/dev/null

# --- The package ----------------------------------------------------------------------------------------------
# torch makes the package large; zstd at a low level compresses it several times faster than xz at a similar
# size (dpkg reads zstd .debs since Debian 12 and Ubuntu 21.10).
COMPRESSION="${CAPTIONIST_DEB_COMPRESSION:-zstd}"
case "$COMPRESSION" in
  zstd) ZARGS=(-Zzstd -z3) ;;
  xz) ZARGS=(-Zxz -z1) ;;
  *) fail "CAPTIONIST_DEB_COMPRESSION must be zstd or xz" ;;
esac
DEB="$OUT/${PACKAGE}_${DEB_VERSION}_${ARCH}.deb"
say "packing $DEB ($COMPRESSION)"
$SUDO dpkg-deb --root-owner-group "${ZARGS[@]}" --build "$ROOT" "$DEB" >/dev/null
if [ -n "$SUDO" ]; then $SUDO chown "$(id -u):$(id -g)" "$DEB"; fi
say "done in $((SECONDS - START)) s: $(du -h "$DEB" | cut -f1) package, $((INSTALLED_KB / 1024)) MiB installed"
echo "$DEB"
