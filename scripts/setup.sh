#!/usr/bin/env bash
# Installs SceneLens and its dependencies into ./.venv (idempotent). Python 3.11+.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip >/dev/null
# torch is pinned in pyproject.toml to the CPU wheel on this machine; extras=test adds pytest & co.
.venv/bin/python -m pip install -q --disable-pip-version-check -e ".[test]"
# mediapipe is not installed: the pose models run on torch (assets/pose). To re-record the reference
# (scripts/make_pose_reference.py) or compare speed (bench/bench_pose.py), install it by hand with
# `.venv/bin/pip install --no-deps mediapipe==0.10.21 absl-py attrs "protobuf<5"` (its metadata would pull
# opencv-contrib-python and jax, which it never imports).
# evo (GPL-3.0, tests only: tests/pose/test_trajectory_eval.py compares `eval trajectory` with it). Its
# metadata pulls pandas/seaborn/rosbags and a newer numpy; the core metrics need none of them.
.venv/bin/python -m pip install -q --disable-pip-version-check --no-deps "evo==1.38.1"
# Open3D is test-only (the FPFH equivalence check against its implementation). Its metadata pulls a notebook and
# web-viewer stack (dash, flask, ipywidgets...; dash also registers a pytest plugin); the registration and
# geometry modules the tests use need only numpy, so it is installed without them.
.venv/bin/python -m pip install -q --disable-pip-version-check --no-deps "open3d-cpu==0.20.0"
