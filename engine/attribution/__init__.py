"""Attribution engine: why did a model predict this class, this keypoint or this voxel?

Every method takes plain tensors and a progress/cancel callback so the same code serves the CLI task
(`engine/tasks/attribution.py`), the GUI job runner and the tests. Nothing here imports Qt.
Heavy imports (torch, captum) happen inside the submodules, which callers import explicitly.
"""
