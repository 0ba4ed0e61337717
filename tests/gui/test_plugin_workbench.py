"""A workbench from an installed plug-in (entry point scenelens.workbenches) is installed in the window beside
the built-in ones; an entry that holds no Workbench is reported as failed and the window still opens."""
from __future__ import annotations

import numpy as np
import pytest

GROUP = "scenelens.workbenches"


@pytest.fixture
def plugin_on_path(tmp_path, monkeypatch):
    import scenelens.engine.plugins as pl
    from tests.plugins.helpers import install_example

    site = install_example(tmp_path)
    monkeypatch.syspath_prepend(str(site))
    saved = pl._LOADED_GROUPS.pop(GROUP, None)
    yield site
    pl._LOADED_GROUPS.pop(GROUP, None)  # later windows in this session must not get the example
    if saved is not None:
        pl._LOADED_GROUPS[GROUP] = saved
    for key in [k for k in pl._RECORDS if k[0] == GROUP]:
        pl._RECORDS.pop(key)


def test_plugin_workbench_installed_in_window(plugin_on_path, window):
    from scenelens.engine.plugins import records
    from scenelens.engine.scene import PointCloud, Scene

    wb = next(w for w in window.workbenches if w.title == "Example plug-in")
    assert any(w.title == "Occupancy" for w in window.workbenches)  # the built-ins are still there
    window.set_scene(Scene("s", [PointCloud(name="a", points=np.zeros((7, 3)))]))
    wb.action.trigger()
    assert wb.last == 7
    assert "Example" in [a.text().replace("&", "") for a in window.menuBar().actions()]
    bad = next(r for r in records() if r.group == GROUP and r.name == "not-a-bench")
    assert bad.state == "failed" and "no Workbench" in bad.error
