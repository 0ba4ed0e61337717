"""A big grid's mesh is built in a job, not on the GUI thread: a scattered 300k-voxel grid opens with the
event loop running (an outline first, the mesh when it lands), and a redraw with a new style keeps the old
mesh on screen until the new one is ready (needs a display)."""
from __future__ import annotations

import threading
import time

import numpy as np
from PySide6 import QtCore

from scenelens.engine.occupancy.grids import preset
from scenelens.engine.scene import Scene
from tests.conftest import colourful_fraction
from tests.occupancy.occ_helpers import wb_of


def scattered(n_target=300_000, seed=0):
    """A 256×256×32 SemanticKITTI-sized grid with ~300k voxels of random classes at random places: the worst
    case for face merging (nothing continues) and the issue's 11 s freeze on open."""
    g = preset("semantickitti").empty("scattered 300k")
    rng = np.random.default_rng(seed)
    occ = rng.random(g.shape) < n_target / g.labels.size
    g.labels[occ] = rng.integers(1, 20, int(occ.sum()))
    return g


class Heartbeat:
    """Longest gap between 5 ms timer ticks on the GUI thread: how long the window was frozen."""

    def __init__(self):
        self.last = time.perf_counter()
        self.longest = 0.0
        self.timer = QtCore.QTimer()
        self.timer.setInterval(5)
        self.timer.timeout.connect(self._tick)
        self.timer.start()

    def _tick(self):
        now = time.perf_counter()
        self.longest = max(self.longest, now - self.last)
        self.last = now

    def stop(self):
        self.timer.stop()
        return self.longest


def test_scattered_300k_grid_opens_without_freezing(qtbot, window, monkeypatch):
    import scenelens.gui.views.layers.voxels as vox

    g = scattered()
    n = int(g.occupied().sum())
    assert n > 290_000
    on_gui = []
    real = vox.exposed_faces
    monkeypatch.setattr(vox, "exposed_faces", lambda *a, **k: (
        on_gui.append(threading.current_thread() is threading.main_thread()), real(*a, **k))[1])
    built = []
    window.view3d.layer_built.connect(built.append)
    renders = []  # how long each frame of the 3-D view took (the first one of ~1.5M quads is the one stall left)
    t0 = []
    rw = window.view3d.window
    rw.AddObserver("StartEvent", lambda *a: t0.append(time.perf_counter()))
    rw.AddObserver("EndEvent", lambda *a: renders.append(time.perf_counter() - t0[-1]))
    qtbot.wait(200)
    hb = Heartbeat()
    window.set_scene(Scene("big", [g]))
    # at once: the outline (a placeholder), the mesh still building in a job
    sr = window.view3d.scene_renderer
    assert [getattr(a, "_sl_placeholder", False) for a in sr.actors[g.uid]] == [True]
    assert window.view3d.building() == [g.uid]
    qtbot.waitUntil(lambda: g.uid in built and not window.view3d.building(), timeout=120_000)
    qtbot.wait(300)
    longest = hb.stop()
    renders = list(renders)  # the frames drawn while the heartbeat ran
    acts = sr.actors[g.uid]
    assert not getattr(acts[0], "_sl_placeholder", False) and acts[0]._sl_faces > n  # the full mesh, full res
    assert acts[0]._sl_lod == 1
    assert on_gui and not any(on_gui), "faces were built on the GUI thread"
    img = window.view3d.screenshot()
    assert colourful_fraction(img) > 0.05  # the voxels are drawn
    # the event loop kept running while the mesh was built: the one long stall left is the first frame of the
    # ~1.5M quads (VTK must draw on the GUI thread), nothing else of that size
    print(f"longest GUI stall while opening {n:,} scattered voxels: {longest * 1e3:.0f} ms; frames: "
          f"{', '.join(f'{r * 1e3:.0f}' for r in renders)} ms")
    assert longest < 1.15 * max(renders) + 0.5, (longest, renders)  # the frame itself, plus scheduling slack


def test_redraw_of_a_big_grid_keeps_the_old_mesh_until_the_new_one_lands(qtbot, window):
    g = scattered(200_000, seed=1)
    window.set_scene(Scene("big", [g]))
    wb = wb_of(window)
    qtbot.waitUntil(lambda: not window.view3d.building(), timeout=120_000)
    qtbot.wait(100)
    sr = window.view3d.scene_renderer
    old = sr.actors[g.uid][0]
    cls = int(np.bincount(g.labels[g.occupied()]).argmax())
    wb.set_class_visible(cls, False)  # a legend untick → redraw → background build
    assert sr.actors[g.uid][0] is old  # still on screen while the new mesh is built
    qtbot.waitUntil(lambda: not window.view3d.building(), timeout=120_000)
    qtbot.wait(100)
    new = sr.actors[g.uid][0]
    assert new is not old and new._sl_faces < old._sl_faces
    # the class is gone from the new mesh's colours
    arr = new.GetMapper().GetInput().GetPointData().GetScalars()
    from vtk.util import numpy_support as ns

    assert cls not in set(np.unique(ns.vtk_to_numpy(arr)).tolist())


def test_sequence_video_of_big_grids_draws_every_frame(qtbot, window, tmp_path):
    """The MP4 export screenshots each frame right after loading it: big frames are built on the spot for it
    (not in a job that would land after the screenshot), so the frames show different grids, not outlines."""
    import cv2

    from scenelens.engine.io import load

    rng = np.random.default_rng(3)
    for i in range(2):  # Occ3D-shaped frames: two road layers and scattered voxels (in half / all of the grid)
        lab = np.full((200, 200, 16), 17, np.uint8)
        lab[:, :, :2] = 11
        scat = rng.random(lab.shape) < 0.15
        scat[:, :, :2] = False
        if i == 0:
            scat[100:] = False
        lab[scat] = rng.integers(0, 17, int(scat.sum()))
        assert (lab != 17).sum() > 120_000  # both are built in a job when opened
        np.savez(tmp_path / f"{i:02d}.npz", semantics=lab)
    window.set_scene(load(tmp_path))
    wb = wb_of(window)
    assert len(wb.frames) == 2 and int(wb.grid.occupied().sum()) > 120_000
    out = wb.export_video(tmp_path / "seq.mp4", size=(320, 200))
    assert out is not None and out.exists()
    cap = cv2.VideoCapture(str(out))
    frames = []
    while True:
        ok, f = cap.read()
        if not ok:
            break
        frames.append(f)
    assert len(frames) == 2
    for f in frames:
        assert colourful_fraction(f[..., ::-1]) > 0.05  # voxels drawn, not just an outline
    assert float((np.abs(frames[0].astype(int) - frames[1].astype(int)).max(2) > 40).mean()) > 0.05


def _frame_as_drawn(view) -> np.ndarray:
    """What the 3-D view's render window holds now, read without rendering again."""
    import vtk
    from vtk.util import numpy_support as ns

    w2i = vtk.vtkWindowToImageFilter()
    w2i.SetInput(view.window)
    w2i.ShouldRerenderOff()
    w2i.SetInputBufferTypeToRGB()
    w2i.ReadFrontBufferOff()
    w2i.Update()
    img = w2i.GetOutput()
    w, h, _ = img.GetDimensions()
    return ns.vtk_to_numpy(img.GetPointData().GetScalars()).reshape(h, w, -1)[::-1, :, :3].copy()


def test_big_mesh_first_frame_is_drawn_chunk_by_chunk_and_equals_a_full_render(qtbot, window, monkeypatch):
    """A 1.5M-quad mesh lands as K chunk actors: the first frame draws chunk 0 with the rest of the scene, then
    each event-loop turn draws only the next chunk over it (erase off). The composite left in the window is the
    full-detail render pixel for pixel, a later full render (camera turned) equals the same mesh drawn as one
    actor, and a pick on a chunk other than the first names its voxel."""
    import scenelens.gui.views.layers.voxels as vox

    g = scattered()
    v3 = window.view3d
    sr = v3.scene_renderer
    seen = []  # per frame of the 3-D view: (which chunks were visible, renderer erase)

    def on_end(*_a):
        acts = sr.actors.get(g.uid) or []
        seen.append((tuple(int(a.GetVisibility()) for a in acts if getattr(a, "_sl_chunk", None)),
                     v3.renderer.GetErase()))

    v3.window.AddObserver("EndEvent", on_end)
    window.set_scene(Scene("big", [g]))
    qtbot.waitUntil(lambda: not v3.building(), timeout=120_000)
    qtbot.wait(200)
    chunks = [a for a in sr.actors[g.uid] if getattr(a, "_sl_chunk", None)]
    k = len(chunks)
    assert k == -(-chunks[0]._sl_faces // vox.CHUNK_QUADS) and k >= 4
    assert all(a.GetVisibility() for a in chunks)
    drawn = [s for s in seen if any(s[0])]
    assert drawn[0] == (tuple([1] + [0] * (k - 1)), 1)  # first frame: chunk 0 only, cleared as usual
    for i in range(1, k):  # then one chunk per frame, drawn over the last one
        assert drawn[i] == (tuple(int(j == i) for j in range(k)), 0), (i, drawn[: k + 1])
    assert v3.renderer.GetErase() == 1
    composite = _frame_as_drawn(v3)
    full = v3.screenshot()  # a normal render of everything, same camera
    assert colourful_fraction(full) > 0.05
    diff = np.abs(composite.astype(int) - full.astype(int)).max(2)
    assert int((diff > 0).sum()) == 0, f"{int((diff > 0).sum())} pixels differ"
    # a later full render with the camera turned: the same picture as the mesh drawn as one actor
    v3.renderer.GetActiveCamera().Azimuth(25)
    v3.renderer.ResetCameraClippingRange()
    turned = v3.screenshot()
    monkeypatch.setattr(vox, "CHUNK_QUADS", 10 ** 9)
    one = vox.build_voxels(g, {"origin": sr.origin, "ego_marker": False})
    assert len(one) == 1
    for a in chunks:
        a.VisibilityOff()
    v3.renderer.AddViewProp(one[0])
    single = v3.screenshot()
    v3.renderer.RemoveViewProp(one[0])
    for a in chunks:
        a.VisibilityOn()
    diff = np.abs(turned.astype(int) - single.astype(int)).max(2)
    assert int((diff > 0).sum()) == 0, f"{int((diff > 0).sum())} pixels differ from the one-actor mesh"
    # while dragging, chunk 0 draws the coarse mesh for all of them; the release restores every chunk
    full_inputs = [a.GetMapper().GetInput() for a in chunks]
    assert v3.set_interactive_lod(True) == k
    assert chunks[0].GetMapper().GetInput() is chunks[0]._sl_lod_data[1]
    assert all(a.GetMapper().GetInput().GetNumberOfCells() == 0 for a in chunks[1:])
    assert v3.set_interactive_lod(False) == k
    assert all(a.GetMapper().GetInput() is pd for a, pd in zip(chunks, full_inputs))
    # a pick through the view lands on the chunk that holds the face and names that face's voxel
    v3.render()
    from vtk.util import numpy_support as ns

    from tests.occupancy.test_pick_exact import _clean, first_hit, ray

    w, h = v3.window.GetSize()
    hits = exact = 0
    occ = g.occupied()
    for fx in np.linspace(0.3, 0.7, 5):
        for fy in np.linspace(0.3, 0.7, 5):
            x, y = int(fx * w), int(fy * h)
            info = v3.pick_display(x, y)
            if info is None or info.get("voxel") is None:
                continue
            a = info["actor"]
            assert any(a is c for c in chunks)
            assert getattr(a, "_sl_locator", None) is not None  # a big mesh is picked through its cell locator
            box = ns.vtk_to_numpy(a.GetMapper().GetInput().GetCellData().GetArray(vox.CELL_VOXELS))[info["cell_id"]]
            assert np.all(box[:3] <= info["voxel"]) and np.all(np.asarray(info["voxel"]) <= box[3:])
            assert occ[info["voxel"]]
            hit = first_hit(occ, np.asarray(g.origin), np.asarray(g.voxel_size), *ray(v3, x, y))
            if _clean(hit):  # the voxel the ray enters first (exact walk), away from face edges
                assert info["voxel"] == hit[0], (x, y, info["voxel"], hit[0])
                exact += 1
            hits += a is not chunks[0]
    assert hits >= 1 and exact >= 10
