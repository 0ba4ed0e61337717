"""Reader for `.exyz` files: a first line `EXAMPLE-XYZ`, then one `x y z` point per line."""
from pathlib import Path

import numpy as np

from scenelens.engine.errors import InputError
from scenelens.engine.io import register
from scenelens.engine.scene import PointCloud


@register("example-xyz", "Example plug-in text point cloud (.exyz)")
def load_exyz(path: Path, **opts):
    lines = path.read_text().splitlines()
    try:
        pts = np.array([[float(v) for v in ln.split()] for ln in lines[1:] if ln.strip()], float).reshape(-1, 3)
    except ValueError as e:
        raise InputError(path, f"bad point line ({e})") from None
    return [PointCloud(name=path.name, source=str(path), points=pts)]


@load_exyz.sniffer
def _sniff(p: Path, head: bytes) -> int:
    return 100 if head.startswith(b"EXAMPLE-XYZ") else 0
