#!/bin/sh
# setup.sh - installs what codegreen needs to build and test, from Debian's packages.
# Safe to run again: it installs only what is missing. Uses sudo when not run as root.
set -eu
packages="build-essential cmake ninja-build pkg-config clang libjansson-dev libcmocka-dev
python3"
missing=""
for p in $packages; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
    missing="$missing $p"
done
[ -z "$missing" ] && exit 0
as_root=""
[ "$(id -u)" -eq 0 ] || as_root="sudo"
echo "setup: installing$missing" >&2
$as_root apt-get update -qq
DEBIAN_FRONTEND=noninteractive $as_root apt-get install -y -qq --no-install-recommends $missing >/dev/null
