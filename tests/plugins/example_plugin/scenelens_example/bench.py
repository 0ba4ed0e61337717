"""A workbench plug-in: a menu with one action that reports the point count of the open scene."""
from scenelens.gui.workbenches.base import Workbench


class ExampleBench(Workbench):
    title = "Example plug-in"

    def install(self, window) -> None:
        self.action = window.menu("E&xample").addAction("Count points", self.count)
        self.last = None

    def count(self):
        from scenelens.engine.scene import PointCloud

        self.last = sum(lay.n for lay in self.window.scene.layers if isinstance(lay, PointCloud))
        return self.last
