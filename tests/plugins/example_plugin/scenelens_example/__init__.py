"""An example SceneLens plug-in package (installed with pip by tests/engine/test_plugins.py)."""
