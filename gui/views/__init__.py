"""Views: the VTK 3D view, the pyqtgraph 2D view and the layer→actor builders they share with `render`."""
