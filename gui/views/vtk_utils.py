"""numpy ↔ VTK conversions shared by all layer builders (zero-copy where VTK allows).

Geometry is shifted by a scene-wide local origin before it is handed to VTK's float32 pipeline, so large
global coordinates (nuScenes global frame, UTM) keep millimetre precision on screen.
"""
from __future__ import annotations

import numpy as np
import vtk
from vtk.util import numpy_support as ns


def points_polydata(xyz: np.ndarray, colors: np.ndarray | None = None, scalars: np.ndarray | None = None,
                    origin: np.ndarray | None = None) -> vtk.vtkPolyData:
    """Vertex-only polydata for N×3 points; optional N×3 uint8 colours or N scalars."""
    xyz = np.asarray(xyz, np.float64)
    if origin is not None:
        xyz = xyz - origin
    pts = vtk.vtkPoints()
    pts.SetData(ns.numpy_to_vtk(np.ascontiguousarray(xyz, np.float32), deep=True))
    pd = vtk.vtkPolyData()
    pd.SetPoints(pts)
    n = len(xyz)
    conn = np.arange(n, dtype=np.int64)
    offsets = np.arange(n + 1, dtype=np.int64)
    cells = vtk.vtkCellArray()
    cells.SetData(ns.numpy_to_vtkIdTypeArray(offsets, deep=True), ns.numpy_to_vtkIdTypeArray(conn, deep=True))
    pd.SetVerts(cells)
    if colors is not None:
        arr = ns.numpy_to_vtk(np.ascontiguousarray(colors[:, :3], np.uint8), deep=True)
        arr.SetName("rgb")
        pd.GetPointData().SetScalars(arr)
    elif scalars is not None:
        arr = ns.numpy_to_vtk(np.ascontiguousarray(scalars, np.float32), deep=True)
        arr.SetName("value")
        pd.GetPointData().SetScalars(arr)
    return pd


def lines_polydata(a: np.ndarray, b: np.ndarray, colors: np.ndarray | None = None,
                   origin: np.ndarray | None = None) -> vtk.vtkPolyData:
    """One line cell per pair (a[i], b[i]); optional per-line uint8 RGB colours."""
    n = len(a)
    xyz = np.empty((2 * n, 3), np.float64)
    xyz[0::2], xyz[1::2] = a, b
    if origin is not None:
        xyz -= origin
    pts = vtk.vtkPoints()
    pts.SetData(ns.numpy_to_vtk(xyz.astype(np.float32), deep=True))
    conn = np.arange(2 * n, dtype=np.int64)
    offsets = np.arange(0, 2 * n + 1, 2, dtype=np.int64)
    cells = vtk.vtkCellArray()
    cells.SetData(ns.numpy_to_vtkIdTypeArray(offsets, deep=True), ns.numpy_to_vtkIdTypeArray(conn, deep=True))
    pd = vtk.vtkPolyData()
    pd.SetPoints(pts)
    pd.SetLines(cells)
    if colors is not None:
        arr = ns.numpy_to_vtk(np.ascontiguousarray(colors[:, :3], np.uint8), deep=True)
        arr.SetName("rgb")
        pd.GetCellData().SetScalars(arr)
    return pd


def actor_for(pd: vtk.vtkPolyData, point_size: float = 2.0, color=None, opacity: float = 1.0,
              direct_rgb: bool = True, line_width: float = 1.0) -> vtk.vtkActor:
    mapper = vtk.vtkPolyDataMapper()
    mapper.SetInputData(pd)
    if direct_rgb and pd.GetPointData().GetScalars() is not None or pd.GetCellData().GetScalars() is not None:
        mapper.SetColorModeToDirectScalars()
    actor = vtk.vtkActor()
    actor.SetMapper(mapper)
    prop = actor.GetProperty()
    prop.SetPointSize(point_size)
    prop.SetLineWidth(line_width)
    prop.SetOpacity(opacity)
    if color is not None:
        prop.SetColor(*color)
        mapper.ScalarVisibilityOff()
    return actor


def items(collection) -> list:
    """The objects of a vtkCollection (a renderer's props, a window's renderers) as a list, without moving the
    collection's own traversal cursor."""
    return [collection.GetItemAsObject(i) for i in range(collection.GetNumberOfItems())]


def image_from_window(window: vtk.vtkRenderWindow) -> np.ndarray:
    """RGB uint8 (H×W×3, top row first) of what the render window shows, via vtkWindowToImageFilter."""
    w2i = vtk.vtkWindowToImageFilter()
    w2i.SetInput(window)
    w2i.SetInputBufferTypeToRGB()
    w2i.ReadFrontBufferOff()
    w2i.Update()
    img = w2i.GetOutput()
    w, h, _ = img.GetDimensions()
    arr = ns.vtk_to_numpy(img.GetPointData().GetScalars()).reshape(h, w, -1)
    return np.ascontiguousarray(arr[::-1, :, :3])


def colormap(values: np.ndarray, name: str = "viridis", lo: float | None = None, hi: float | None = None) -> np.ndarray:
    """Map scalars to uint8 RGB with a matplotlib colormap (the same maps the 2D views use)."""
    from matplotlib import colormaps

    v = np.asarray(values, np.float64)
    lo = np.nanmin(v) if lo is None else lo
    hi = np.nanmax(v) if hi is None else hi
    t = np.clip((v - lo) / (hi - lo if hi > lo else 1.0), 0, 1)
    return (colormaps[name](t)[:, :3] * 255).astype(np.uint8)


def style_scalar_bar_text(bar, color=(0.92, 0.92, 0.92), title_size: int = 13, label_size: int = 12) -> None:
    """One look for every colour bar drawn in a 3D view: light, flat text at fixed pixel sizes (VTK's default
    scales the font with the bar and shadows it, which blurs small labels on llvmpipe)."""
    bar.UnconstrainedFontSizeOn()
    for tp, size in ((bar.GetTitleTextProperty(), title_size), (bar.GetLabelTextProperty(), label_size)):
        tp.SetColor(*color)
        tp.SetFontSize(size)
        tp.ShadowOff()
        tp.ItalicOff()
        tp.BoldOff()
    bar.PickableOff()
