"""Regenerates the README screenshots from the current build: the real program (`main.py`) under Xvfb, one
window screenshot per workspace at 1280×800 and 1920×1080 (SCENELENS_AUTOSHOT), written to docs/screenshots/.

Run: `xvfb-run -a -s "-screen 0 1920x1080x24" .venv/bin/python scripts/screenshots.py`
The Occupancy, Registration and Pose shots use the real samples in ../shared/data when they are there.
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data"
SHOTS = {
    "Viewer": [],
    "Occupancy": [DATA / "occ3d_nuscenes_sample" / "labels.npz"],
    "Registration": [DATA / "3dmatch_pair" / "src.npy", DATA / "3dmatch_pair" / "ref.npy"],
    "Pose": [DATA / "coco_keypoints" / "000000000785.jpg"],
    "Attribution": [],
}


def main() -> int:
    out_dir = ROOT / "docs" / "screenshots"
    out_dir.mkdir(parents=True, exist_ok=True)
    for size in ("1280x800", "1920x1080"):
        for ws, paths in SHOTS.items():
            if not all(Path(p).exists() for p in paths):
                print(f"skip {ws}: sample data missing")
                continue
            out = out_dir / f"{ws.lower()}-{size}.png"
            with tempfile.TemporaryDirectory() as tmp:
                env = dict(os.environ, SCENELENS_AUTOSHOT=str(out), SCENELENS_WINDOW_SIZE=size,
                           SCENELENS_WORKSPACE=ws, SCENELENS_STATE_DIR=f"{tmp}/state",
                           SCENELENS_CONFIG_DIR=f"{tmp}/config")
                r = subprocess.run([sys.executable, "main.py", *map(str, paths)], cwd=ROOT, env=env,
                                   capture_output=True, text=True, timeout=300)
            print(r.stdout.strip() or r.stderr.strip())
            if r.returncode:
                return r.returncode
    return 0


if __name__ == "__main__":
    sys.exit(main())
