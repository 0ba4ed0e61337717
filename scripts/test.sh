#!/usr/bin/env bash
# Installs everything the tests need (Python packages, and the apt packages for a virtual X server and
# software GL when they are missing), then runs the whole test suite under Xvfb.
set -euo pipefail
cd "$(dirname "$0")/.."
APT_PKGS="xvfb xauth libxcb-icccm4 libxcb-keysyms1 libxcb-cursor0 libxkbcommon-x11-0 libxcb-xinerama0 \
libxcb-randr0 libxcb-render-util0 libxcb-image0 libxcb-shape0 libgl1 libglx-mesa0 libgl1-mesa-dri libegl1 \
libegl-mesa0 libfontconfig1 libdbus-1-3 fonts-dejavu-core libusb-1.0-0"
missing=""
for p in $APT_PKGS; do
  dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
done
if [ -n "$missing" ]; then
  echo "installing apt packages:$missing"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing >/dev/null
fi
bash scripts/setup.sh
# Lint first (a second): bugs only, not style (pyproject.toml [tool.ruff]: syntax errors, undefined names...).
if ! .venv/bin/ruff check --output-format concise .; then
  echo "ruff found errors (above): fix them before the tests run"
  exit 1
fi
export SCENELENS_TEST=1
# Coverage of the in-process tests (CLI subprocesses are not traced); SCENELENS_COV= (empty) turns it off.
COV=${SCENELENS_COV-"--cov=engine --cov=gui --cov-report=term:skip-covered"}
set +e
# xvfb-run keeps the X server alive until the Python process has exited (pytest-xvfb stops it earlier,
# and VTK's own X connection then aborts the process with exit code 1 after a green run).
xvfb-run -a -s "-screen 0 1600x1000x24 -nolisten tcp" .venv/bin/python -m pytest -p no:xvfb -p no:dash $COV "$@"
rc=$?
set -e
if [ "$rc" = 5 ]; then echo "no tests collected"; fi
exit $rc
