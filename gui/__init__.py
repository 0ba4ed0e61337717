"""SceneLens GUI: Qt windows, VTK 3D views and pyqtgraph 2D views. It turns scene layers and engine results
into pictures and runs engine jobs off the GUI thread; it never computes results itself."""
# namespace-codemod: guard (begin)
if __name__ != 'scenelens.gui':  # one name per file: never a second copy of every module under another name
    raise ImportError(f"cannot import {__name__}: the folder gui/ is the package scenelens.gui "
                      "(import scenelens.gui instead; a checkout is installed with `pip install -e .`)")
# namespace-codemod: guard (end)
