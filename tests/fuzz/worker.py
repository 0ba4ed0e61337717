"""Runs hostile inputs through SceneLens's real entry points, each in a forked, resource-limited child.

One long-lived interpreter imports everything once; every case then runs in `os.fork()`ed child with
RLIMIT_DATA (heap + anonymous mappings: what an allocation takes) set to the memory limit, RLIMIT_CPU and an
alarm for the time limit, and stdout/stderr sent to files. The parent reports rc, wall time, peak RSS and the
stderr text as one JSON line per case. Run as `python -m tests.fuzz.worker` with JSON lines on stdin:
{"path": ..., "entry": "render|model|project", "work": folder for outputs, "image": a valid PNG}.
"""
from __future__ import annotations

import json
import os
import resource
import signal
import sys
import time
import traceback


def _child(case: dict, mem: int, seconds: int) -> None:
    resource.setrlimit(resource.RLIMIT_DATA, (mem, mem))
    resource.setrlimit(resource.RLIMIT_CPU, (seconds + 1, seconds + 2))
    signal.alarm(seconds)
    work = case["work"]
    os.makedirs(work, exist_ok=True)
    out = os.open(os.path.join(work, "stdout"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    err = os.open(os.path.join(work, "stderr"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    os.dup2(out, 1)
    os.dup2(err, 2)
    sys.stdout = os.fdopen(1, "w", buffering=1)
    sys.stderr = os.fdopen(2, "w", buffering=1)
    rc = 1
    try:
        from scenelens import cli as main

        if case["entry"] == "render":
            rc = main.main(["render", case["path"], "--out", os.path.join(work, "out.png"), "--size", "96x64"])
        elif case["entry"] == "model":
            rc = main.main(["run", "attribution", case["image"], "--method", "gradcam", "--model", case["path"],
                            "--out", os.path.join(work, "out"), "--device", "cpu", "--no-faithfulness"])
        elif case["entry"] == "eval":
            rc = main.main(["eval", "occupancy", "--pred", case["path"], "--gt", case["path"]])
        elif case["entry"] == "image":
            rc = main.main(["run", "attribution", case["path"], "--method", "gradcam", "--out",
                            os.path.join(work, "out"), "--device", "cpu", "--no-faithfulness"])
        elif case["entry"] == "project":
            from scenelens.engine.errors import InputError
            from scenelens.engine.project import load_project

            try:
                load_project(case["path"])
                rc = 0
            except InputError as e:
                print(f"scenelens: {e}", file=sys.stderr)
                rc = 2
    except SystemExit as e:
        rc = e.code if isinstance(e.code, int) else 1
    except BaseException:  # noqa: BLE001 - what the user would see
        traceback.print_exc()
        rc = 1
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        os._exit(int(rc))


def run_one(case: dict, mem: int, seconds: int) -> dict:
    t0 = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        try:
            _child(case, mem, seconds)
        finally:
            os._exit(99)
    _, status, ru = os.wait4(pid, 0)
    wall = time.perf_counter() - t0
    sig = os.WTERMSIG(status) if os.WIFSIGNALED(status) else 0
    rc = os.WEXITSTATUS(status) if os.WIFEXITED(status) else -sig
    try:
        with open(os.path.join(case["work"], "stderr"), encoding="utf-8", errors="replace") as f:
            stderr = f.read(20000)
    except OSError:
        stderr = ""
    return {"path": case["path"], "rc": rc, "signal": sig, "wall": wall, "maxrss_kb": ru.ru_maxrss, "stderr": stderr}


def main() -> None:
    os.environ.setdefault("TQDM_DISABLE", "1")
    mem = int(os.environ.get("FUZZ_MEM", str(2 << 30)))
    seconds = int(os.environ.get("FUZZ_SECONDS", "10"))
    import scenelens.cli as _main  # noqa: F401 - warm imports once, before forking
    import scenelens.gui.render  # noqa: F401
    from scenelens import engine
    import scenelens.engine.io
    import scenelens.engine.project  # noqa: F401
    import scenelens.engine.attribution.pipeline  # noqa: F401
    import scenelens.engine.trust  # noqa: F401

    import cv2  # noqa: F401
    import PIL.Image  # noqa: F401
    import safetensors.torch  # noqa: F401
    import torch  # noqa: F401
    import tqdm  # noqa: F401
    from matplotlib import colormaps  # noqa: F401

    import scenelens.engine.tasks

    engine.io.readers()
    engine.tasks.tasks()
    for line in sys.stdin:
        if line.strip():
            print(json.dumps(run_one(json.loads(line), mem, seconds)), flush=True)


if __name__ == "__main__":
    main()
