"""Long loops are cooperative: a job on a big cloud honours Cancel within a fraction of a second, so closing
the window never has to kill a thread."""
import threading
import time

import numpy as np
import pytest

from scenelens.engine.errors import JobCancelled
from scenelens.engine.jobs import JobContext
from scenelens.engine.scene import PointCloud
from scenelens.engine.tasks.preprocess import downsample_with_normals


def test_preprocess_on_a_big_cloud_cancels_quickly():
    rng = np.random.default_rng(0)
    downsample_with_normals(PointCloud("warm", points=rng.normal(size=(100, 3))), voxel=0.1)  # imports done
    cloud = PointCloud("big", points=rng.uniform(-50, 50, size=(1_000_000, 3)))
    ctx = JobContext()
    stopped = {}

    def cancel_soon():
        time.sleep(0.8)
        stopped["t"] = time.perf_counter()
        ctx.cancel()

    threading.Thread(target=cancel_soon, daemon=True).start()
    with pytest.raises(JobCancelled):
        downsample_with_normals(cloud, voxel=0.01, ctx=ctx)
    lag = time.perf_counter() - stopped["t"]
    # the longest step that cannot stop midway is scipy's KD-tree build (≈0.4 s per million points here)
    assert lag < 2.0, lag


def test_sliced_normals_equal_one_shot(monkeypatch):
    import torch

    import scenelens.engine.geometry as g

    pts = torch.as_tensor(np.random.default_rng(1).normal(size=(5000, 3)), dtype=torch.float32)
    ref = g.estimate_normals(pts, k=20, radius=0.5)
    monkeypatch.setattr(g, "NORMAL_SLICE", 20 * 333)
    monkeypatch.setattr(g, "CPU_QUERY_SLICE", 20 * 777)
    sliced = g.estimate_normals(pts, k=20, radius=0.5)
    assert torch.equal(ref, sliced)
