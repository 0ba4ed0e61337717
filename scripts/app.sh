#!/usr/bin/env bash
# Installs SceneLens (if needed) and opens the window on the built-in demo scene (or the given path).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python main.py "$@"
