#!/usr/bin/env bash
# Builds Captionist.app and a DMG on macOS (see README.md beside this script; nothing here has been run on a Mac):
#   1. packaging/pyinstaller/build.sh freezes the program with packaging/pyinstaller/captionist.spec into
#      Captionist.app (bundle id org.captionist.Captionist, NSMicrophoneUsageDescription in its Info.plist),
#   2. with --identity, every library and executable in it is signed with that Developer ID and the hardened
#      runtime, inside out, and the app last with entitlements.plist (audio input); without it the app keeps the
#      ad-hoc signature PyInstaller gives it (it runs on this Mac; Gatekeeper refuses it elsewhere),
#   3. hdiutil makes Captionist-VERSION.dmg (the app and a link to /Applications), signed too with --identity,
#   4. with --notarize PROFILE, the DMG is sent to Apple's notary service and the ticket stapled to it.
#
#   packaging/macos/build-app.sh [--identity "Developer ID Application: NAME (TEAMID)"] [--notarize PROFILE]
#                                [--out DIR] [--venv DIR]
#
#   --identity ID     a code signing identity in the keychain (security find-identity -v -p codesigning)
#   --notarize NAME   a notarytool keychain profile (xcrun notarytool store-credentials NAME ...); needs --identity
#   --out DIR         where the app and the DMG go (default: dist/macos in the repository); the DMG's path is
#                     printed on the last line
#   --venv DIR        passed to build.sh: a build environment to keep and reuse
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
ENTITLEMENTS="$REPO/packaging/macos/entitlements.plist"

die() { echo "build-app: $*" >&2; exit 1; }
say() { echo "build-app: $*"; }

IDENTITY=""
PROFILE=""
OUT="$REPO/dist/macos"
BUILD_ARGS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --identity) [ $# -ge 2 ] || die "--identity needs a name"; IDENTITY="$2"; shift ;;
    --notarize) [ $# -ge 2 ] || die "--notarize needs a keychain profile"; PROFILE="$2"; shift ;;
    --out) [ $# -ge 2 ] || die "--out needs a folder"; OUT="$2"; shift ;;
    --venv) [ $# -ge 2 ] || die "--venv needs a folder"; BUILD_ARGS+=(--venv "$2"); shift ;;
    -h|--help) sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument: $1 (see --help)" ;;
  esac
  shift
done
[ "$(uname -s)" = Darwin ] || die "this script runs on macOS only (it needs codesign and hdiutil)"
for tool in codesign hdiutil /usr/libexec/PlistBuddy; do
  command -v "$tool" >/dev/null || die "$tool is missing (xcode-select --install)"
done
if [ -n "$PROFILE" ] && [ -z "$IDENTITY" ]; then die "--notarize needs --identity: Apple notarizes only signed code"; fi
if [ -n "$IDENTITY" ]; then
  security find-identity -v -p codesigning | grep -qF "\"$IDENTITY\"" ||
    die "no valid code signing identity \"$IDENTITY\" in the keychain (security find-identity -v -p codesigning)"
fi
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
START=$SECONDS

# --- 1. The app ------------------------------------------------------------------------------------------------
# (${BUILD_ARGS[@]+...}: bash 3.2, macOS's, calls an empty array unbound under set -u.)
APP="$(bash "$REPO/packaging/pyinstaller/build.sh" --out "$OUT" ${BUILD_ARGS[@]+"${BUILD_ARGS[@]}"} | tail -1)"
[ -d "$APP" ] && [ "$(basename "$APP")" = Captionist.app ] || die "build.sh did not make Captionist.app"
PLIST="$APP/Contents/Info.plist"
plist() { /usr/libexec/PlistBuddy -c "Print :$1" "$PLIST"; }
VERSION="$(plist CFBundleShortVersionString)" || die "$PLIST has no CFBundleShortVersionString"
[ "$(plist CFBundleIdentifier)" = org.captionist.Captionist ] || die "$PLIST: CFBundleIdentifier is not the app id"
plist NSMicrophoneUsageDescription >/dev/null || die "$PLIST has no NSMicrophoneUsageDescription"
say "Captionist.app $VERSION"

# --- 2. Signing ----------------------------------------------------------------------------------------------------
MAIN="$APP/Contents/MacOS/Captionist"
if [ -n "$IDENTITY" ]; then
  # Not `codesign --deep`, which signs nested code without the options and is what Apple advises against: each
  # Mach-O file on its own, the deepest first, then the nested bundles (.framework: the Python framework that
  # PyInstaller keeps whole), then the app with the entitlements, which go to its main executable.
  # --timestamp: notarization requires a secure timestamp on every signature.
  sign() { codesign --force --timestamp --options runtime --sign "$IDENTITY" "$@"; }
  say "signing every library and executable in the app with \"$IDENTITY\""
  n=0
  while IFS= read -r f; do
    [ "$f" = "$MAIN" ] && continue
    file -b "$f" | grep -q "Mach-O" || continue
    # (codesign says "replacing existing signature" for each: shown only when it fails.)
    err="$(sign "$f" 2>&1)" || { echo "$err" >&2; die "codesign failed on $f"; }
    n=$((n + 1))
  done < <(find "$APP/Contents" -type f | awk -F/ '{print NF "\t" $0}' | sort -rn | cut -f2-)
  while IFS= read -r bundle; do sign "$bundle"; done < <(find "$APP/Contents" -type d -name '*.framework' | sort -r)
  sign --entitlements "$ENTITLEMENTS" "$APP"
  say "signed $n files and the app"
  codesign --verify --deep --strict --verbose=2 "$APP" || die "codesign --verify refused the signed app"
  codesign -d --entitlements - "$APP" 2>/dev/null | grep -q "com.apple.security.device.audio-input" ||
    die "the signed app does not carry the audio-input entitlement"
else
  say "no --identity: the app keeps PyInstaller's ad-hoc signature (runs on this Mac, not distributable)"
  codesign --verify --verbose=1 "$APP" || die "the ad-hoc signature of $APP does not verify"
fi
"$MAIN" --version || die "$MAIN --version failed after signing"

# --- 3. The DMG ----------------------------------------------------------------------------------------------------
DMG="$OUT/Captionist-$VERSION.dmg"
STAGE="$(mktemp -d "${TMPDIR:-/tmp}/captionist-dmg.XXXXXX")"
trap 'rm -rf "$STAGE"' EXIT
# ditto keeps the bundle's symlinks, extended attributes and signatures exactly (cp -R can follow links).
ditto "$APP" "$STAGE/Captionist.app"
ln -s /Applications "$STAGE/Applications"  # the usual drag-to-install window
rm -f "$DMG"
say "making $(basename "$DMG")"
hdiutil create -volname Captionist -srcfolder "$STAGE" -fs HFS+ -format UDZO -ov "$DMG" >/dev/null ||
  die "hdiutil create failed"
if [ -n "$IDENTITY" ]; then
  codesign --force --timestamp --sign "$IDENTITY" "$DMG"
  codesign --verify --verbose=1 "$DMG" || die "the DMG's signature does not verify"
fi
hdiutil verify "$DMG" >/dev/null || die "hdiutil verify $DMG failed"

# --- 4. Notarization ---------------------------------------------------------------------------------------------
if [ -n "$PROFILE" ]; then
  say "notarizing $(basename "$DMG") (profile $PROFILE); this takes minutes"
  xcrun notarytool submit "$DMG" --keychain-profile "$PROFILE" --wait --output-format plist >"$STAGE/notary.plist" ||
    die "notarytool submit failed (xcrun notarytool log SUBMISSION-ID --keychain-profile $PROFILE says why)"
  STATUS="$(/usr/libexec/PlistBuddy -c 'Print :status' "$STAGE/notary.plist")"
  SUBMISSION="$(/usr/libexec/PlistBuddy -c 'Print :id' "$STAGE/notary.plist")"
  [ "$STATUS" = Accepted ] ||
    die "notarization: $STATUS (xcrun notarytool log $SUBMISSION --keychain-profile $PROFILE says why)"
  xcrun stapler staple "$DMG" || die "stapler staple failed"
  spctl --assess --type open --context context:primary-signature --verbose=2 "$DMG" || die "Gatekeeper refuses $DMG"
  say "notarized and stapled"
fi

say "done in $((SECONDS - START)) s: $APP ($(du -sh "$APP" | cut -f1)), $DMG ($(du -h "$DMG" | cut -f1))"
echo "$DMG"
