"""SceneLens GUI: Qt windows, VTK 3D views and pyqtgraph 2D views. It turns scene layers and engine results
into pictures and runs engine jobs off the GUI thread; it never computes results itself."""
