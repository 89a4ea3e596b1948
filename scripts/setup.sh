#!/bin/sh
# setup.sh [--test] - installs what codegreen needs to build (and with --test, to run every
# test), from Debian's packages, then the npm packages pinned in package-lock.json.
# Safe to run again: it installs only what is missing. Uses sudo when not run as root.
set -eu
cd "$(dirname "$0")/.."
packages="build-essential cmake ninja-build pkg-config clang libjansson-dev libcmocka-dev
python3 python3-dev libcairo2-dev libtree-sitter-dev
libslurm-dev libmicrohttpd-dev libcurl4-openssl-dev libzstd-dev libyajl-dev"
# manual pages (man/gen-man.sh)
packages="$packages help2man scdoc"
if [ "${1:-}" = "--test" ]; then
  packages="$packages python3-pytest chromium openjdk-17-jdk-headless stress-ng"
  # the format check, scripts/format.sh --check, against the committed .clang-format
  packages="$packages clang-format"
  # The engines issue 16's tests start on 127.0.0.1: Slurm (with munge), Open MPI, Prometheus.
  packages="$packages slurm-wlm munge openmpi-bin libopenmpi-dev prometheus prometheus-pushgateway"
  # pip install into venvs, notebooks (pandas frames, the IPython cell magic), man -w
  packages="$packages python3-venv python3-pip python3-setuptools python3-wheel python3-pandas
python3-setuptools-whl python3-wheel-whl
python3-ipython man-db"
  # functions shipped by value from a measured program (issue 14)
  packages="$packages python3-cloudpickle"
fi
command -v npm >/dev/null 2>&1 || packages="$packages npm"
missing=""
for p in $packages; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
    missing="$missing $p"
done
as_root=""
[ "$(id -u)" -eq 0 ] || as_root="sudo"
if [ -n "$missing" ]; then
  echo "setup: installing$missing" >&2
  $as_root apt-get -o DPkg::Lock::Timeout=900 update -qq
  DEBIAN_FRONTEND=noninteractive $as_root apt-get -o DPkg::Lock::Timeout=900 install -y -qq --no-install-recommends $missing >/dev/null
fi
# npm packages (tree-sitter grammars, the chart library), exactly as locked.
if [ -f package-lock.json ]; then
  if [ ! -f node_modules/.package-lock.json ] || ! cmp -s package-lock.json node_modules/.lock-stamp; then
    npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null
    cp package-lock.json node_modules/.lock-stamp
  fi
fi
