#!/usr/bin/env bash
# Proves a Captionist .deb on this machine, end to end, and leaves the machine as it found it:
#   1. installs it with apt (which resolves its Depends),
#   2. runs the installed `captionist --version` and a headless `captionist transcribe` of a short WAV with a tiny
#      random-weight checkpoint (written by the repository's test fixtures with the development environment),
#   3. starts the window under Xvfb and checks its title, its icon and its WM_CLASS (the application id),
#   4. checks the installed desktop entry (desktop-file-validate), metainfo (appstreamcli) and icons,
#   5. purges the package (and the dependencies apt installed for it) and checks that nothing is left in /opt, /usr,
#      /etc and /var/lib, comparing listings taken before and after.
#
#   packaging/linux/check-deb.sh DEB
#
# Needs root (or sudo). The program itself runs as the unprivileged user `nobody`, as a person would run it, with
# fresh HOME and XDG folders and a clean environment. Environment: CAPTIONIST_TEST_PYTHON, the Python that writes the
# tiny checkpoint (default: the repository's .venv, made by test.sh; it needs torch, transformers and safetensors);
# CAPTIONIST_CHECK_WM_CLASS=warn reports a window whose WM_CLASS lacks the application id without failing.
# Any failure stops the check with a message and a non-zero status; the cleanup (trap) runs in every case.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
APP_ID="org.captionist.Captionist"
PREFIX="/opt/captionist"
ICON_SIZES="16 22 24 32 48 64 128 256 512"
TEST_PYTHON="${CAPTIONIST_TEST_PYTHON:-$REPO/.venv/bin/python}"
APT=(apt-get -y -q -o DPkg::Lock::Timeout=600)  # others may be using apt on a shared machine: wait, don't fail

PROG=check-deb
. "$REPO/packaging/lib.sh"

[ $# -eq 1 ] || { echo "usage: $0 DEB" >&2; exit 2; }
[ -f "$1" ] || fail "no such file: $1"
DEB="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
if [ "$(id -u)" -ne 0 ]; then exec sudo -E "$0" "$DEB"; fi  # apt, and the file system listings, need root
START=$SECONDS
PKG="$(dpkg-deb -f "$DEB" Package)"
installed() { dpkg-query -W -f '${db:Status-Abbrev}' "$1" 2>/dev/null | grep -q '^.[iUFHWt]'; }
for p in captionist captionist-cuda; do
  installed "$p" && fail "$p is already installed; this check installs and purges the package itself"
done
[ -e "$PREFIX" ] && fail "$PREFIX already exists (a build in progress?); not checking over it"
[ -x "$TEST_PYTHON" ] || fail "$TEST_PYTHON is missing: run ./test.sh once (or set CAPTIONIST_TEST_PYTHON)"

# --- The check's own tools, installed before the "before" listing, so they are not counted as leftovers -------
TOOLS=""
command -v Xvfb >/dev/null || TOOLS="$TOOLS xvfb"
command -v xdotool >/dev/null || TOOLS="$TOOLS xdotool"
command -v xprop >/dev/null || TOOLS="$TOOLS x11-utils"
command -v desktop-file-validate >/dev/null || TOOLS="$TOOLS desktop-file-utils"
if [ -n "$TOOLS" ]; then
  say "installing the check's tools:$TOOLS"
  "${APT[@]}" update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive "${APT[@]}" install -qq $TOOLS >/dev/null || fail "cannot install$TOOLS"
fi

T="$(mktemp -d "${TMPDIR:-/tmp}/captionist-check.XXXXXX")"
chmod 0755 "$T"  # the program runs as nobody and reads the model and audio from here
XVFB_PID=""
APP_PID=""
cleanup() {
  status=$?
  [ -n "$APP_PID" ] && kill "$APP_PID" 2>/dev/null || true
  [ -n "$XVFB_PID" ] && kill "$XVFB_PID" 2>/dev/null || true
  if installed "$PKG"; then  # a failure left it installed: take it away again
    say "cleanup: purging $PKG"
    DEBIAN_FRONTEND=noninteractive "${APT[@]}" purge -qq "$PKG" >/dev/null 2>&1 || true
  fi
  if [ -s "$T/new-packages" ]; then  # dependencies apt installed for it (listed only once the install succeeded)
    # shellcheck disable=SC2046
    DEBIAN_FRONTEND=noninteractive "${APT[@]}" purge -qq $(cat "$T/new-packages") >/dev/null 2>&1 || true
  fi
  rm -rf "$T"
  [ $status -eq 0 ] || echo "check-deb: the check failed (status $status); the machine was cleaned up" >&2
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The file system outside the places that change on their own (package databases, logs, caches, runtime files).
listing() {
  find /opt /usr /etc /var/lib -xdev \
    \( -path /var/lib/apt -o -path /var/lib/dpkg -o -path /var/lib/systemd -o -path /var/lib/dhcp \
       -o -path /var/lib/ucf -o -path /var/lib/polkit-1 \) -prune -o -print 2>/dev/null | LC_ALL=C sort
}
packages() { dpkg-query -W -f '${db:Status-Abbrev} ${binary:Package}\n' | awk '$1 ~ /^.i/ {print $2}' | LC_ALL=C sort; }

# --- The tiny checkpoint and a short WAV, made before anything is installed ---------------------------------------
smoke_inputs "$TEST_PYTHON" "$T"
chmod -R a+rX "$T"

listing >"$T/before.txt"
packages >"$T/packages-before.txt"

# --- 1. Install ------------------------------------------------------------------------------------------------
say "installing $DEB with apt"
t0=$SECONDS
DEBIAN_FRONTEND=noninteractive "${APT[@]}" install "$DEB" >"$T/apt-install.log" 2>&1 ||
  { tail -30 "$T/apt-install.log" >&2; fail "apt-get install $DEB"; }
INSTALL_S=$((SECONDS - t0))
packages | LC_ALL=C comm -13 "$T/packages-before.txt" - |
  grep -vx -e "$PKG" -e "$PKG:$(dpkg-deb -f "$DEB" Architecture)" >"$T/new-packages" || true
installed "$PKG" || fail "$PKG is not installed after apt-get install"
ok "installed in ${INSTALL_S} s$( [ -s "$T/new-packages" ] && echo ", with these dependencies: $(tr '\n' ' ' <"$T/new-packages")")"
dpkg --verify "$PKG" || fail "dpkg --verify $PKG: installed files differ from the package"
ok "dpkg --verify"

# The program as a person runs it: user nobody, a clean environment, fresh home and XDG folders.
mkdir -p "$T/home" "$T/runtime"
chown nobody "$T/home" "$T/runtime"
chmod 0700 "$T/runtime"
as_user() {
  runuser -u nobody -- env -i PATH=/usr/local/bin:/usr/bin:/bin HOME="$T/home" LANG=C.UTF-8 \
    XDG_CONFIG_HOME="$T/home/.config" XDG_DATA_HOME="$T/home/.local/share" XDG_CACHE_HOME="$T/home/.cache" \
    XDG_RUNTIME_DIR="$T/runtime" HF_HUB_OFFLINE=1 "$@"
}

# --- 2. The command ---------------------------------------------------------------------------------------------
[ "$(command -v captionist)" = /usr/bin/captionist ] ||
  fail "captionist on the PATH is $(command -v captionist), not /usr/bin/captionist"
VERSION_LINE="$(as_user captionist --version)" || fail "captionist --version"
# The version of the installed distribution (Debian spells 1.0rc1 as 1.0~rc1), not "(not installed)".
[ "$VERSION_LINE" = "captionist $(dpkg-deb -f "$DEB" Version | tr -d '~')" ] ||
  fail "captionist --version printed \"$VERSION_LINE\" for package version $(dpkg-deb -f "$DEB" Version)"
ok "captionist --version: $VERSION_LINE"

t0=$SECONDS
as_user captionist transcribe "$T/speech.wav" --model "$T/model" --offline --device cpu --format json \
  -o "$T/home/speech.json" >"$T/transcribe.log" 2>&1 ||
  { rc=$?; cat "$T/transcribe.log" >&2; fail "captionist transcribe exited with status $rc"; }
/usr/bin/python3 -B -c 'import json, sys; d = json.load(open(sys.argv[1])); assert isinstance(d, (dict, list)) and d' \
  "$T/home/speech.json" || fail "captionist transcribe wrote no valid JSON transcript"
ok "captionist transcribe (tiny checkpoint, --offline) in $((SECONDS - t0)) s:" \
  "$(head -c 120 "$T/home/speech.json" | tr -s '\n ' ' ')..."

# --- 3. The window under Xvfb -------------------------------------------------------------------------------------
N=90
while [ -e "/tmp/.X11-unix/X$N" ] || [ -e "/tmp/.X$N-lock" ]; do N=$((N + 1)); done
Xvfb ":$N" -screen 0 1600x1000x24 -nolisten tcp >"$T/xvfb.log" 2>&1 &
XVFB_PID=$!
for _ in $(seq 100); do [ -e "/tmp/.X11-unix/X$N" ] && break; sleep 0.1; done
[ -e "/tmp/.X11-unix/X$N" ] || { cat "$T/xvfb.log" >&2; fail "Xvfb :$N did not start"; }
as_user env DISPLAY=":$N" QT_QPA_PLATFORM=xcb captionist --model "$T/model" --offline >"$T/gui.log" 2>&1 &
APP_PID=$!
WINDOW=""
for _ in $(seq 120); do  # up to 60 s: torch and the model load first
  WINDOW="$(DISPLAY=":$N" xdotool search --onlyvisible --name '^Captionist$' 2>/dev/null | head -1)" || true
  [ -n "$WINDOW" ] && break
  kill -0 "$APP_PID" 2>/dev/null || { cat "$T/gui.log" >&2; fail "captionist (the window) exited early"; }
  sleep 0.5
done
[ -n "$WINDOW" ] || { cat "$T/gui.log" >&2; fail "no visible window titled Captionist within 60 s"; }
ok "window $WINDOW titled \"$(DISPLAY=":$N" xdotool getwindowname "$WINDOW")\""
ICON_PROP="$(DISPLAY=":$N" timeout 10 xprop -id "$WINDOW" -notype 32c _NET_WM_ICON | head -c 200)" || true
case "$ICON_PROP" in
  *"_NET_WM_ICON ="*) ok "the window has an icon (_NET_WM_ICON set)" ;;
  *) fail "the window has no icon (_NET_WM_ICON: $ICON_PROP)" ;;
esac
WM_CLASS="$(DISPLAY=":$N" timeout 10 xprop -id "$WINDOW" WM_CLASS)" || fail "xprop WM_CLASS did not answer"
case "$WM_CLASS" in
  *"\"$APP_ID\""*) ok "$WM_CLASS" ;;
  *) msg="the window's WM_CLASS should name the application id $APP_ID (as the desktop entry's file name does, so"
     msg="$msg that docks match the window to its menu entry); it is: $WM_CLASS"
     if [ "${CAPTIONIST_CHECK_WM_CLASS:-}" = warn ]; then echo "check-deb: WARNING: $msg"; else fail "$msg"; fi ;;
esac
kill "$APP_PID" 2>/dev/null || true
for _ in $(seq 50); do kill -0 "$APP_PID" 2>/dev/null || break; sleep 0.2; done
kill -9 "$APP_PID" 2>/dev/null || true
wait "$APP_PID" 2>/dev/null || true
APP_PID=""
kill "$XVFB_PID" 2>/dev/null || true
wait "$XVFB_PID" 2>/dev/null || true
XVFB_PID=""

# --- 4. Menu entry, metainfo, icons -------------------------------------------------------------------------------
DESKTOP="/usr/share/applications/$APP_ID.desktop"
[ -f "$DESKTOP" ] || fail "$DESKTOP is not installed"
desktop-file-validate "$DESKTOP" || fail "desktop-file-validate $DESKTOP"
grep -qx "Icon=$APP_ID" "$DESKTOP" || fail "$DESKTOP: Icon= should be $APP_ID"
EXEC="$(sed -n 's/^Exec=\([^ ]*\).*/\1/p' "$DESKTOP" | head -1)"
[ "$(command -v "$EXEC")" = /usr/bin/captionist ] || fail "$DESKTOP: Exec=$EXEC is not the installed command"
ok "desktop entry $DESKTOP (desktop-file-validate, Icon=$APP_ID, Exec=$EXEC)"
METAINFO="/usr/share/metainfo/$APP_ID.metainfo.xml"
[ -f "$METAINFO" ] || fail "$METAINFO is not installed"
if command -v appstreamcli >/dev/null; then
  appstreamcli validate --no-net "$METAINFO" >"$T/appstream.log" 2>&1 ||
    { cat "$T/appstream.log" >&2; fail "appstreamcli validate --no-net $METAINFO"; }
  ok "metainfo $METAINFO (appstreamcli validate --no-net)"
else
  ok "metainfo $METAINFO installed (appstreamcli not available: not validated)"
fi
for n in $ICON_SIZES; do
  f="/usr/share/icons/hicolor/${n}x${n}/apps/$APP_ID.png"
  /usr/bin/python3 -B - "$f" "$n" <<'EOF' || fail "$f is missing or not a ${n}x${n} PNG"
import struct, sys
head = open(sys.argv[1], "rb").read(24)
assert head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR", "not a PNG"
assert struct.unpack(">II", head[16:24]) == (int(sys.argv[2]),) * 2, "wrong size"
EOF
done
grep -q "<svg" "/usr/share/icons/hicolor/scalable/apps/$APP_ID.svg" || fail "the scalable SVG icon is missing"
CACHE=/usr/share/icons/hicolor/icon-theme.cache
if [ -f "$CACHE" ]; then
  grep -q "$APP_ID" "$CACHE" || fail "$CACHE does not list $APP_ID: menus would not find the icon"
  ok "icons: PNGs at $ICON_SIZES, the SVG, and the hicolor icon cache lists them"
else
  ok "icons: PNGs at $ICON_SIZES and the SVG (no hicolor icon cache on this machine)"
fi

INSTALLED_DU="$(du -sh "$PREFIX" | cut -f1)"

# --- 5. Purge, and nothing left -----------------------------------------------------------------------------------
say "purging $PKG"
DEBIAN_FRONTEND=noninteractive "${APT[@]}" purge "$PKG" >"$T/apt-purge.log" 2>&1 ||
  { tail -30 "$T/apt-purge.log" >&2; fail "apt-get purge $PKG"; }
if [ -s "$T/new-packages" ]; then
  say "purging the dependencies apt installed for it: $(tr '\n' ' ' <"$T/new-packages")"
  # shellcheck disable=SC2046
  DEBIAN_FRONTEND=noninteractive "${APT[@]}" purge $(cat "$T/new-packages") >>"$T/apt-purge.log" 2>&1 ||
    fail "apt-get purge of the dependencies"
  : >"$T/new-packages"
fi
installed "$PKG" && fail "$PKG is still installed after the purge"
dpkg-query -W -f '${db:Status-Abbrev}' "$PKG" 2>/dev/null | grep -q '^.c' && fail "$PKG left its configuration files"
[ -e "$PREFIX" ] && fail "$PREFIX is still there after the purge: $(find "$PREFIX" | head -5 | tr '\n' ' ')"
listing >"$T/after.txt"
if ! diff -u "$T/before.txt" "$T/after.txt" >"$T/leftovers.diff"; then
  head -40 "$T/leftovers.diff" >&2
  fail "the file system differs after the purge from before the install" \
       "($(grep -c '^[+-]/' "$T/leftovers.diff") paths, above)"
fi
grep -q "$APP_ID" "$CACHE" 2>/dev/null && fail "$CACHE still lists $APP_ID after the purge"
ok "purged: /opt /usr /etc /var/lib list the same paths as before the install"

DEB_SIZE="$(du -h "$DEB" | cut -f1)"
say "passed in $((SECONDS - START)) s"
say "package $(basename "$DEB"): $DEB_SIZE ($(stat -c %s "$DEB") bytes);" \
    "Installed-Size $(( $(dpkg-deb -f "$DEB" Installed-Size) / 1024 )) MiB;" \
    "$PREFIX measured $INSTALLED_DU once installed (with bytecode)"
