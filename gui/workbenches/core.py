"""The foundation's own tools: point-cloud preprocessing (downsample + normals) as a background job."""
from __future__ import annotations

from PySide6 import QtWidgets

from scenelens.engine.scene import PointCloud

from .base import Workbench


class CoreTools(Workbench):
    title = "Tools"

    def install(self, window) -> None:
        menu = window.menu("&Tools")
        self.action = menu.addAction("Downsample + normals…", self.run_preprocess)

    def target_cloud(self) -> PointCloud | None:
        w = self.window
        uid = w.browser.selected_uid()
        lay = w.scene.get(uid) if uid else None
        if isinstance(lay, PointCloud):
            return lay
        clouds = w.scene.of_type(PointCloud)
        return clouds[0] if clouds else None

    def run_preprocess(self, voxel: float | None = None):
        w = self.window
        cloud = self.target_cloud()
        if cloud is None:
            w.error("No point cloud", "Open or select a point-cloud layer first.")
            return None
        if voxel is None:
            voxel, ok = QtWidgets.QInputDialog.getDouble(w, "Downsample", "Voxel size (m):", 0.2, 0.005, 10.0, 3)
            if not ok:
                return None
        return w.run_task("preprocess", cloud=cloud, voxel=voxel)
