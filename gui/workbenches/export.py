"""File ▸ Export: the open scene as a Rerun recording, a voxel grid as a mesh (engine.interop, in a job)."""
from __future__ import annotations

from PySide6 import QtWidgets

from .base import Workbench


class ExportTools(Workbench):
    title = "Export"

    def install(self, window) -> None:
        menu = window.menu("&File")
        sub = QtWidgets.QMenu("E&xport", menu)
        quit_action = next((a for a in menu.actions() if a.text().replace("&", "").lower().startswith(("quit", "exit"))),
                           None)
        if quit_action is not None:
            menu.insertMenu(quit_action, sub)
        else:
            menu.addMenu(sub)
        self.rrd_action = sub.addAction("Rerun recording (.rrd)…", self.export_rrd)
        self.mesh_action = sub.addAction("Voxel grid as mesh (.ply, .glb, .obj)…", self.export_mesh)

    def export_rrd(self, path: str | None = None):
        w = self.window
        if not w.scene.layers:
            w.error("Nothing to export", "Open a scene first.")
            return None
        if path is None:
            path, _ = QtWidgets.QFileDialog.getSaveFileName(w, "Export Rerun recording", f"{w.scene.name}.rrd",
                                                            "Rerun recording (*.rrd)")
            if not path:
                return None
        from scenelens.engine.interop import write_rrd
        from scenelens.engine.jobs import Job

        scene = w.scene
        job = Job("Export Rerun recording", lambda ctx: write_rrd(scene, path))
        return w.start_job(job, on_result=lambda logged: w.log(f"wrote {path} ({len(logged)} entities)"))

    def export_mesh(self, path: str | None = None):
        from scenelens.engine.scene import VoxelGrid

        w = self.window
        uid = w.browser.selected_uid() if hasattr(w, "browser") else None
        sel = w.scene.get(uid) if uid else None
        grids = [sel] if isinstance(sel, VoxelGrid) else w.scene.of_type(VoxelGrid)
        if not grids:
            w.error("No voxel grid", "Open or select a voxel-grid layer first.")
            return None
        grid = grids[0]
        if path is None:
            path, _ = QtWidgets.QFileDialog.getSaveFileName(w, "Export voxel grid as mesh", f"{grid.name}.ply",
                                                            "Meshes (*.ply *.glb *.gltf *.obj *.stl *.off)")
            if not path:
                return None
        from scenelens.engine.interop import write_mesh
        from scenelens.engine.jobs import Job

        job = Job(f"Export {grid.name} as a mesh", lambda ctx: write_mesh(grid, path))
        return w.start_job(job, on_result=lambda n: w.log(f"wrote {path} ({n:,} triangles)"))
