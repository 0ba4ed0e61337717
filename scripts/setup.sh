#!/usr/bin/env bash
# Installs SceneLens and its dependencies into ./.venv (idempotent). Python 3.11+.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip >/dev/null
# torch is a range in pyproject.toml (>=2.4,<2.14) whose newest release here is the local CPU wheel
# (2.13.0+cpu); a range that admits 2.14 would take the CUDA build. extras=test adds pytest & co.
.venv/bin/python -m pip install -q --disable-pip-version-check -e ".[test]"
# mediapipe is not a dependency: the pose models run on torch (assets/pose). It is installed here for the tests
# only, which compare the torch models with mediapipe's own graphs (tests/attribution/test_pose_target.py,
# test_mediapipe_torch.py, tests/pose/test_models_cli.py), for scripts/make_pose_reference.py and for
# bench/bench_pose.py. --no-deps: its metadata pulls opencv-contrib-python, jax and sounddevice, which these
# graphs never import; it runs with numpy 2 here. protobuf 4.25 (mediapipe's generated code) also serves Ray.
.venv/bin/python -m pip install -q --disable-pip-version-check --no-deps "mediapipe==0.10.21" "absl-py>=2" \
  "protobuf>=4.25,<5"
# evo (GPL-3.0, tests only: tests/pose/test_trajectory_eval.py compares `eval trajectory` with it). Its
# metadata pulls pandas/seaborn/rosbags and a newer numpy; the core metrics need none of them.
.venv/bin/python -m pip install -q --disable-pip-version-check --no-deps "evo==1.38.1"
# Open3D is test-only (the FPFH equivalence check against its implementation, PCD interop, Poisson densify).
# Its metadata pulls a notebook and web-viewer stack (flask, ipywidgets, ipython, nbformat...), so it is installed
# without them. `import open3d` still imports its plotly/dash viewer at the top (open3d/visualization/
# draw_plotly.py), so those five pure-Python packages come pinned and --no-deps too; without them the import fails
# and every Open3D test skips without a word. dash registers a pytest plugin: scripts/test.sh runs `-p no:dash`.
# open3d-cpu 0.20.0 works with numpy 2 (its FPFH and point clouds checked with numpy 2.4).
.venv/bin/python -m pip install -q --disable-pip-version-check --no-deps "open3d-cpu==0.20.0" \
  "plotly==7.1.0" "narwhals==2.29.0" "dash==4.4.1" "janus==2.0.0" "werkzeug==3.1.9"
# Registration peers for bench/bench_registration.py --peers (bench-only): KISS-Matcher (coarse) and small_gicp
# (fine alignment). Both wheels require only numpy, so --no-deps keeps numpy/torch as they are.
.venv/bin/python -m pip install -q --disable-pip-version-check --no-deps "kiss-matcher==1.0.2" "small_gicp==1.0.1"
# Quantus (LGPL-3.0, tests only: tests/attribution/test_faithmetrics.py compares the faithfulness metrics with it).
# Its metadata pulls opencv-python (a second OpenCV beside the headless one) and TensorFlow-era pins; the metrics
# compared import with pandas, scikit-learn and cachetools only.
.venv/bin/python -m pip install -q --disable-pip-version-check --no-deps "quantus==0.6.0"
.venv/bin/python -m pip install -q --disable-pip-version-check "pandas<3" scikit-learn cachetools
if ! .venv/bin/python -c "import open3d" >/dev/null 2>&1; then
  echo "setup: open3d does not import (the Open3D equivalence tests would skip):" >&2
  .venv/bin/python -c "import open3d" 2>&1 | tail -1 >&2
  exit 1
fi
