"""SceneLens engine: loaders, scene model, jobs and tasks. Plain Python + numpy + torch.

The engine never imports Qt, VTK or pyqtgraph, so every computation the GUI offers is reachable
headless from the CLI and from tests.
"""
__version__ = "0.1.0"
