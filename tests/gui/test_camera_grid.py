"""CameraGrid: layout, real clicks, pixels of each tile, overlays, selection highlight."""
from __future__ import annotations

import numpy as np
import pytest
from PySide6 import QtCore

from scenelens.gui.views.camera_grid import CameraGrid

NUSCENES = ["CAM_FRONT_LEFT", "CAM_FRONT", "CAM_FRONT_RIGHT", "CAM_BACK_LEFT", "CAM_BACK", "CAM_BACK_RIGHT"]
COLOURS = [(220, 40, 40), (40, 200, 40), (40, 60, 220), (230, 210, 30), (200, 40, 200), (30, 200, 210)]


def _solid(rgb, h=900, w=1600):
    img = np.empty((h, w, 3), np.uint8)
    img[:] = rgb
    return img


@pytest.fixture
def grid(qtbot):
    g = CameraGrid()
    qtbot.addWidget(g)
    g.resize(1020, 420)
    g.set_cameras([(n, _solid(c)) for n, c in zip(NUSCENES, COLOURS)])
    g.show()
    qtbot.waitExposed(g)
    return g


def test_six_cameras_make_two_rows_of_three_readable_tiles(grid):
    assert grid.columns() == 3
    rects = [grid.tile_rect(n) for n in NUSCENES]
    for r in rects:
        assert r.width() >= 320, r
        assert abs(r.width() / r.height() - 16 / 9) < 0.02
        assert grid.rect().contains(r)
    # given order, row by row: FRONT_LEFT, FRONT, FRONT_RIGHT on top
    assert rects[0].x() < rects[1].x() < rects[2].x()
    assert rects[0].y() == rects[1].y() == rects[2].y() < rects[3].y() == rects[4].y() == rects[5].y()
    for a in range(6):
        for b in range(a + 1, 6):
            assert not rects[a].intersects(rects[b])


def test_each_tile_shows_its_own_image(grid):
    img = grid.grab_image()
    assert img.shape == (420, 1020, 3)
    for name, colour in zip(NUSCENES, COLOURS):
        r = grid.tile_rect(name)
        # the lower half of the tile is free of the name label
        patch = img[r.center().y():r.bottom() - 4, r.x() + 4:r.right() - 4].reshape(-1, 3).astype(int)
        assert np.abs(patch - np.array(colour)).max() <= 2, name


def test_real_clicks_emit_the_camera_under_the_mouse(grid, qtbot):
    for name in [NUSCENES[4], NUSCENES[0], NUSCENES[5]]:
        with qtbot.waitSignal(grid.camera_clicked, timeout=1000) as sig:
            qtbot.mouseClick(grid, QtCore.Qt.LeftButton, pos=grid.tile_rect(name).center())
        assert sig.args == [name]
        assert grid.selected() == name
    with qtbot.waitSignal(grid.camera_activated, timeout=1000) as sig:
        qtbot.mouseDClick(grid, QtCore.Qt.LeftButton, pos=grid.tile_rect(NUSCENES[2]).center())
    assert sig.args == [NUSCENES[2]]


def test_keyboard_moves_the_selection_and_enter_activates(grid, qtbot):
    qtbot.mouseClick(grid, QtCore.Qt.LeftButton, pos=grid.tile_rect(NUSCENES[0]).center())
    clicked, activated = [], []
    grid.camera_clicked.connect(clicked.append)
    grid.camera_activated.connect(activated.append)
    for key in (QtCore.Qt.Key_Right, QtCore.Qt.Key_Down, QtCore.Qt.Key_Down, QtCore.Qt.Key_Left, QtCore.Qt.Key_Up):
        qtbot.keyClick(grid, key)
    assert clicked == [NUSCENES[1], NUSCENES[4], NUSCENES[3], NUSCENES[0]]  # the 2nd Down hits the edge
    qtbot.keyClick(grid, QtCore.Qt.Key_Return)
    assert activated == [NUSCENES[0]] and grid.selected() == NUSCENES[0]


def test_tiles_are_smooth_after_a_resize_settles(grid, qtbot):
    grid.resize(700, 300)
    assert grid._resizing  # fast, unsmoothed scaling while the size changes
    qtbot.waitUntil(lambda: not grid._resizing, timeout=2000)
    r = grid.tile_rect(NUSCENES[2])
    assert r.width() == (700 - 4 * 4) // 3
    assert tuple(grid.grab_image()[r.center().y() + 10, r.center().x()]) == COLOURS[2]


def test_click_between_rows_of_letterboxed_tiles_hits_nothing_outside_cells(qtbot):
    g = CameraGrid()
    qtbot.addWidget(g)
    g.resize(600, 400)
    g.set_cameras([("a", _solid((255, 0, 0))), ("b", _solid((0, 255, 0)))])
    g.show()
    qtbot.waitExposed(g)
    assert g.columns() == 2
    got = []
    g.camera_clicked.connect(got.append)
    qtbot.mouseClick(g, QtCore.Qt.LeftButton, pos=QtCore.QPoint(g.width() // 2, g.height() // 2))  # the gap
    assert got == []
    qtbot.mouseClick(g, QtCore.Qt.LeftButton, pos=g.tile_rect("b").center())
    assert got == ["b"]


def test_selection_highlight_and_overlay_are_drawn(grid, qtbot):
    name = NUSCENES[1]
    r = grid.tile_rect(name)
    before = grid.grab_image()
    qtbot.mouseClick(grid, QtCore.Qt.LeftButton, pos=r.center())
    after = grid.grab_image()
    edge = (r.bottom() - 1, r.center().x())
    assert tuple(before[edge]) == COLOURS[1]
    assert tuple(after[edge]) == (255, 176, 32)
    ov = np.zeros((90, 160, 4), np.uint8)
    ov[:, 80:] = (255, 255, 255, 255)  # right half opaque white, left half transparent
    grid.set_overlay(name, ov)
    img = grid.grab_image()
    y = r.center().y() + r.height() // 4
    assert tuple(img[y, r.x() + r.width() // 4]) == COLOURS[1]
    assert tuple(img[y, r.x() + 3 * r.width() // 4]) == (255, 255, 255)
    grid.set_overlay(name, None)
    assert tuple(grid.grab_image()[y, r.x() + 3 * r.width() // 4]) == COLOURS[1]


def test_layout_follows_count_and_size(qtbot):
    g = CameraGrid()
    qtbot.addWidget(g)
    g.resize(800, 600)
    g.show()
    qtbot.waitExposed(g)
    assert g.columns() == 0 and g.grab_image().shape == (600, 800, 3)  # empty: draws "No cameras"
    for n, cols in [(1, 1), (2, 2), (4, 2), (5, 3), (9, 3), (10, 4)]:
        g.set_cameras([(f"c{i}", _solid((i * 20, 0, 0), 90, 160)) for i in range(n)])
        assert g.columns() == cols
    g.resize(400, 300)
    qtbot.wait(10)
    for name in g.names():
        assert g.rect().contains(g.tile_rect(name))
    g.set_image("c3", _solid((0, 0, 255), 90, 160))
    r = g.tile_rect("c3")
    assert tuple(g.grab_image()[r.bottom() - 3, r.center().x()]) == (0, 0, 255)
    g.clear()
    assert g.names() == [] and g.selected() is None
    assert g.minimumSizeHint().width() <= 240 and g.minimumSizeHint().height() <= 140


def test_bad_images_are_refused_with_the_camera_name(qtbot):
    g = CameraGrid()
    qtbot.addWidget(g)
    with pytest.raises(ValueError, match="CAM_X.*float"):
        g.set_cameras([("CAM_X", np.zeros((4, 4, 3), np.float32))])
    with pytest.raises(ValueError, match="CAM_Y.*shape"):
        g.set_cameras([("CAM_Y", np.zeros((4, 4, 2), np.uint8))])
    with pytest.raises(ValueError, match="unique"):
        g.set_cameras([("a", _solid((0, 0, 0), 2, 2)), ("a", _solid((0, 0, 0), 2, 2))])
    with pytest.raises(KeyError):
        g.set_overlay("nope", None)
