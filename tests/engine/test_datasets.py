"""The dataset runner serially: item order, failures reported without stopping, resume, guarded options."""
from __future__ import annotations

import json

import pytest

from scenelens.engine.datasets import Item, results_path, run_items
from scenelens.engine.errors import InputError

CALLS: list[int] = []


def square(x):
    CALLS.append(x)
    if x == 3:
        raise ValueError("three is unlucky")
    if x == 4:
        raise InputError("frame4.npz", "corrupt")
    return {"sq": x * x}


def test_serial_failures_and_resume(tmp_path):
    CALLS.clear()
    items = [Item(f"k{i}", (i,)) for i in range(6)]
    res = tmp_path / "out.json.items.jsonl"
    assert results_path(tmp_path / "out.json") == res
    run = run_items(square, items, results=res, config={"a": 1}, progress=False)
    assert list(run.results) == ["k0", "k1", "k2", "k5"] and run.results["k2"] == {"sq": 4}
    assert run.failed == {"k3": "ValueError: three is unlucky", "k4": "frame4.npz: corrupt"}
    assert run.backend == "serial" and run.summary()["failed"] == 2 and CALLS == list(range(6))
    CALLS.clear()
    again = run_items(square, items, results=res, config={"a": 1}, progress=False)
    assert CALLS == [3, 4] and again.resumed == 4 and again.results == run.results
    # an interrupted run leaves a cut line at the end: that item is just redone
    with open(res, "a") as f:
        f.write('{"key":"k9","ok":tr')
    CALLS.clear()
    run_items(square, items, results=res, config={"a": 1}, progress=False)
    assert CALLS == [3, 4]
    with pytest.raises(InputError, match="other options"):
        run_items(square, items, results=res, config={"a": 2}, progress=False)
    CALLS.clear()
    fresh = run_items(square, items, results=res, config={"a": 2}, resume=False, progress=False)
    assert CALLS == list(range(6)) and fresh.resumed == 0
    assert json.loads(res.read_text().splitlines()[0]) == {"config": {"a": 2}}


def test_bad_arguments():
    with pytest.raises(InputError, match="share the key"):
        run_items(square, [Item("a", (1,)), Item("a", (2,))], progress=False)
    with pytest.raises(InputError, match="at least 1"):
        run_items(square, [Item("a", (1,))], workers=0, progress=False)


def test_unreachable_cluster_is_one_clear_error():
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # a port nobody listens on
    with pytest.raises(InputError, match="cannot reach the Ray cluster"):
        run_items(square, [Item("a", (1,))], ray_address=f"127.0.0.1:{port}", progress=False)
    with pytest.raises(InputError, match="HOST:PORT"):
        run_items(square, [Item("a", (1,))], ray_address="nonsense", progress=False)


def test_gpu_items_on_a_cluster_without_gpus_fail_fast():
    pytest.importorskip("ray")
    import ray

    if ray.is_initialized():
        pytest.skip("a Ray instance is already running in this process")
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    with pytest.raises(InputError, match="need a GPU"):
        run_items(square, [Item("a", (1,)), Item("b", (2,))], workers=2, gpus_per_item=0.5, progress=False)
    assert not ray.is_initialized()  # the local Ray it started was shut down


def test_local_ray_that_does_not_start_is_one_clear_error(monkeypatch):
    """Ray's node start timing out on a loaded machine was a traceback; it is one line naming the way out."""
    ray = pytest.importorskip("ray")

    def init(**_kw):
        raise TimeoutError("Timed out after 60 seconds while waiting for node to startup.\nmore detail")

    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", init)
    monkeypatch.setattr(ray, "shutdown", lambda: None)
    with pytest.raises(InputError, match=r"could not start a local Ray with 2 workers \(TimeoutError: Timed out"
                                         r" after 60 seconds while waiting for node to startup\.\); run with --workers 1"):
        run_items(square, [Item("a", (1,)), Item("b", (2,))], workers=2, progress=False)
