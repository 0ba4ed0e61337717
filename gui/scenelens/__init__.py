"""`import scenelens`: the workbench as a Python library, for notebooks and scripts.

    import scenelens
    s = scenelens.open("assets/demo")                 # a file, folder, scene manifest or .slproj project
    s.layers["LiDAR"].points.shape                     # layers by name
    new = s.run("preprocess", voxel=0.5)               # the same job the GUI runs (blocking, tqdm bar)
    s.save("demo.slproj")                              # job layers and edits included; reopens anywhere
    scenelens.render(s, "shot.png", size=(1280, 800))  # offscreen, same builders as the 3D view
    scenelens.show(s)                                  # the window on this session (blocks until closed)

It lives under gui/ because it spans both layers: importing it loads no Qt or VTK (only `show` and `render`
do, when called), so headless scripts and servers can use `open`/`run`/`save` freely.
"""
from __future__ import annotations
# namespace-codemod: guard (begin)
if __name__ != 'scenelens':  # one name per file: never a second copy of every module under another name
    raise ImportError(f"cannot import {__name__}: the folder gui/scenelens/ is the package scenelens "
                      "(import scenelens instead; a checkout is installed with `pip install -e .`)")
# namespace-codemod: guard (end)

import os
from typing import TYPE_CHECKING, Any

from scenelens.engine import __version__

if TYPE_CHECKING:
    import numpy as np

    from scenelens.engine.session import Pick, Session

__all__ = ["open", "show", "render", "Session", "Pick", "__version__"]


def __getattr__(name: str):
    # Session and Pick load on first use: every `scenelens.engine.*` import runs this file first (it is the
    # parent package), and the CLI or a Ray worker that needs one engine module should not pay for numpy and
    # the session model.
    if name in ("Session", "Pick"):
        from scenelens.engine import session

        return getattr(session, name)
    raise AttributeError(f"module 'scenelens' has no attribute {name!r}")


def open(path: str | os.PathLike, device: str = "auto") -> Session:  # noqa: A001  (the library's verb)
    """A Session on a file, folder, scene manifest or `.slproj` project (device: auto, cpu or cuda)."""
    from scenelens.engine.device import resolve_device
    from scenelens.engine.session import Session

    return Session.open(path, device=resolve_device(device))


def _as_session(obj: Any) -> Session:
    import numpy as np

    from scenelens.engine.scene import PointCloud, Scene, VoxelGrid
    from scenelens.engine.session import Session

    if isinstance(obj, Session):
        return obj
    if isinstance(obj, Scene):
        return Session(obj)
    if isinstance(obj, (str, os.PathLike)):
        return open(obj, device="cpu")
    arrays = obj if isinstance(obj, dict) else {"array": obj}
    scene = Scene(name="arrays")
    for name, a in arrays.items():
        a = np.asarray(a)
        if a.ndim == 2 and a.shape[1] >= 3 and a.dtype.kind == "f":
            scene.add(PointCloud(name=str(name), source="python", points=a[:, :3]))
        elif a.ndim == 3 and a.dtype.kind in "iub":
            scene.add(VoxelGrid(name=str(name), source="python", labels=a.astype(np.uint8), free_label=0))
        else:
            raise TypeError(f"cannot show array {name!r} of shape {a.shape} and dtype {a.dtype}: "
                            "use N×3 floats (points) or an X×Y×Z integer grid (labels)")
    return Session(scene)


def show(obj: Any = None, device: str = "auto", size: tuple[int, int] | None = None) -> Session:
    """Open the SceneLens window on a Session, a path, or arrays (N×3 points, X×Y×Z label grids, or a dict of
    them) and block until it is closed, like `open3d.visualization.draw`. Returns the session (with any edits)."""
    from scenelens.gui.app import show_session

    session = _as_session(obj) if obj is not None else None
    return show_session(session, device=device, size=size)


def render(obj: Any, out: str | os.PathLike | None = None, size: tuple[int, int] = (1280, 800),
           view: str = "iso") -> np.ndarray:
    """Draw offscreen with the 3D view's builders; returns the RGB image and writes a PNG when `out` is given."""
    from scenelens.gui.render import render_scene

    img = render_scene(_as_session(obj).scene, size, view)
    if out is not None:
        from scenelens.engine.io.image import write_image

        write_image(str(out), img)
    return img
