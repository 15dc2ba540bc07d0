#!/usr/bin/env bash
# Set up dsa110-contimg on a Debian machine: system packages, then a virtualenv
# in .venv with the package installed in editable mode.
#   scripts/setup.sh          runtime (the demo, the pipeline, the API)
#   scripts/setup.sh --test   also what the test suite needs
set -euo pipefail
cd "$(dirname "$0")/.."

extras=""
# wsclean images (the demo and the tests); PostgreSQL and Redis serve the scale-out
# configuration and are started by the tests themselves.
apt_packages=(python3-venv wsclean postgresql redis-server)
# Only the test suite needs these: Chromium runs the dashboard's browser tests;
# nginx-light runs deploy/nginx/dsa110.conf in front of the API (tests/ops);
# prometheus brings promtool, which checks and unit-tests the alert rules;
# systemd brings systemd-analyze, which verifies the units in deploy/systemd.
apt_test_packages=(chromium nginx-light prometheus systemd)
if [[ "${1:-}" == "--test" ]]; then
    extras="[test,casa]"  # CASA cross-checks run in the test suite
    apt_packages+=("${apt_test_packages[@]}")
fi

missing=()
for pkg in "${apt_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
    echo "setup: installing Debian packages: ${missing[*]}"
    if [[ $(id -u) -eq 0 ]]; then sudo=""; else sudo="sudo"; fi
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -qq
    $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

python=${PYTHON:-python3}
if ! "$python" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
    echo "setup: $python is not Python 3.11" >&2
    exit 1
fi
if [[ ! -x .venv/bin/python ]]; then
    "$python" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".${extras}"
echo "setup: ready ($(.venv/bin/dsa110 --version))"
