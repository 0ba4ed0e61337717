"""Dataset runs: one per-item function over many items, serially or on Ray, resumable, with a tqdm bar.

Any task's `--dataset` mode uses the same runner, so every dataset run gets `--workers N` (Ray, a local
instance started inside this process by default), `--ray-address ADDR` (an existing Ray cluster), per-item
failure reports that do not stop the rest, and resume from a results file next to `--out`.

API (e.g. for `eval registration --dataset`)::

    from scenelens.engine.datasets import Item, add_dataset_args, results_path, run_items

    add_dataset_args(parser)                    # --workers, --ray-address, --no-resume
    items = [Item("7-scenes-redkitchen/0_1", (str(src), str(tgt), T_gt.tolist())), ...]
    run = run_items(score_pair, items, workers=args.workers, ray_address=args.ray_address,
                    results=results_path(args.out) if args.out else None, resume=not args.no_resume,
                    config={"task": "registration", "voxel": 0.05}, desc="pairs")
    # a CUDA model: also gpus_per_item=1 / args.workers (Ray hides GPUs from tasks that reserve none)
    run.results   # {key: result} of every finished item (this run's and resumed ones), in item order
    run.failed    # {key: "ErrorType: message"} of the items that raised
    run.resumed   # number of items skipped because the results file already held them

Rules for `fn(*item.args)`:
* a module-level function (Ray pickles it by reference; each worker imports its module, so keep heavy
  imports inside the function or module-level in a small module);
* arguments and return value JSON-serialisable (paths as str, arrays as lists): results are appended to
  the results file as one JSON line per item, which is what a rerun reads back to skip finished items;
* deterministic: the aggregation must be done by the caller from `run.results` in item order, so a Ray
  run gives exactly the serial run's numbers whatever order the workers finish in.

`config` is stored in the results file's first line; a rerun with different options refuses to mix the
two (InputError) instead of silently combining results computed differently.

Scaling to a cluster: each Ray task ships only the item's arguments (paths and a few numbers) and the
function by reference; each worker imports `engine` (sent once per job with `runtime_env.py_modules` when
`--ray-address` is given) and reads its item's files itself, so the data must be on storage every node sees
(shared filesystem or the same mount path). The driver keeps only the small per-item results. A cluster with
Ray's token authentication needs RAY_AUTH_MODE=token and the cluster's token in the driver's environment.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from .errors import InputError

RESULTS_SUFFIX = ".items.jsonl"
_OBJECT_STORE_BYTES = 100 * 1024 * 1024  # results are small JSON values; keep Ray's shared memory small


@dataclass(frozen=True)
class Item:
    """One unit of work: a unique `key` (shown in failure reports and stored for resume) and `fn`'s args."""

    key: str
    args: tuple = ()


@dataclass
class DatasetRun:
    results: dict[str, Any] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    resumed: int = 0
    workers: int = 1
    backend: str = "serial"
    seconds: float = 0.0

    def summary(self) -> dict:
        return {"items": len(self.results) + len(self.failed), "ok": len(self.results), "failed": len(self.failed),
                "resumed": self.resumed, "backend": self.backend, "workers": self.workers,
                "seconds": round(self.seconds, 3)}


def add_dataset_args(p: argparse.ArgumentParser) -> None:
    """The options every `--dataset` mode shares."""
    p.add_argument("--workers", type=int, default=1,
                   help="parallel workers on Ray (default 1: serial, no Ray); a local Ray is started in-process")
    p.add_argument("--ray-address", default=None,
                   help="address of an existing Ray cluster (e.g. ray://head:10001 or auto); default: local Ray")
    p.add_argument("--no-resume", action="store_true",
                   help="recompute every item even if the results file next to --out holds it")


def results_path(out: str | Path) -> Path:
    """The per-item results file kept next to a run's output (`metrics.json` → `metrics.json.items.jsonl`)."""
    out = Path(out)
    return out.with_name(out.name + RESULTS_SUFFIX)


def _call(fn: Callable, key: str, args: tuple) -> tuple[str, bool, Any]:
    """Run one item; an exception becomes a failure record instead of stopping the run."""
    try:
        return key, True, fn(*args)
    except Exception as e:  # noqa: BLE001 - every item failure is reported, whatever its type
        msg = str(e) if isinstance(e, InputError) else f"{type(e).__name__}: {e}"
        return key, False, msg


def _read_results(path: Path, config: dict | None) -> dict[str, Any]:
    done: dict[str, Any] = {}
    try:
        lines = path.read_text().splitlines()
    except OSError as e:
        raise InputError(path, f"unreadable results file ({e.strerror})") from None
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            if i == len(lines) - 1:  # a line cut short by an interrupted run: that item is simply redone
                break
            raise InputError(path, f"line {i + 1} is not JSON; delete the file to start over") from None
        if i == 0 and "config" in rec:
            if config is not None and rec["config"] != config:
                raise InputError(path, f"was written with other options ({rec['config']} ≠ {config}); "
                                       "delete it, pass --no-resume or choose another --out")
            continue
        if rec.get("ok"):
            done[rec["key"]] = rec["result"]
    return done


class _Writer:
    def __init__(self, path: Path | None, config: dict | None, fresh: bool):
        self.f = None
        if path is None:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        self.f = open(path, "w" if fresh else "a", encoding="utf-8")
        if fresh:
            self._line({"config": config})

    def _line(self, rec: dict) -> None:
        self.f.write(json.dumps(rec, separators=(",", ":")) + "\n")
        self.f.flush()

    def write(self, key: str, ok: bool, value: Any) -> None:
        if self.f is not None:
            self._line({"key": key, "ok": True, "result": value} if ok else {"key": key, "ok": False, "error": value})

    def close(self) -> None:
        if self.f is not None:
            self.f.close()


def _engine_root() -> Path:
    return Path(__file__).resolve().parent.parent


def _check_reachable(address: str, timeout: float = 5.0) -> None:
    """Ray retries an unreachable head for minutes; a plain TCP connect says so in seconds."""
    import socket

    if address == "auto" or address.startswith("local"):
        return
    hostport = address.split("://", 1)[-1].rstrip("/")
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit():
        raise InputError(None, f"--ray-address {address!r}: expected HOST:PORT, ray://HOST:PORT or auto")
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except OSError as e:
        raise InputError(None, f"cannot reach the Ray cluster at {address!r} ({e.strerror or e})") from None


def _start_ray(workers: int, address: str | None):
    """Connect to `address`, or start a small local Ray (num_cpus=workers, no dashboard, 100 MB object
    store). Returns (ray module, started_here)."""
    try:
        import ray
    except ImportError:
        raise InputError(None, "--workers > 1 needs Ray: pip install ray") from None
    if ray.is_initialized():
        return ray, False
    if address:
        _check_reachable(address)
    env = {"env_vars": {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}}
    if address:
        from scenelens.engine.package_layout import package_dir
        env["py_modules"] = [str(package_dir())]  # the scenelens package, as installed, to the cluster's workers
        kw: dict = {"address": address}
    else:
        root = str(_engine_root())
        env["env_vars"]["PYTHONPATH"] = os.pathsep.join([root, *filter(None, [os.environ.get("PYTHONPATH")])])
        # "local": always a fresh instance, even where `ray start` left a cluster address behind
        kw = {"address": "local", "num_cpus": workers, "object_store_memory": _OBJECT_STORE_BYTES,
              "_system_config": {"automatic_object_spilling_enabled": False}}
    try:
        ray.init(include_dashboard=False, log_to_driver=True, configure_logging=False, logging_level="ERROR",
                 runtime_env=env, **kw)
    except Exception as e:  # noqa: BLE001 - Ray raises many types (timeouts, RuntimeError, its own) when it cannot start
        if not address:
            try:
                ray.shutdown()
            except Exception:  # noqa: BLE001
                pass
            first = (str(e).splitlines() or [type(e).__name__])[0][:200]
            raise InputError(None, f"could not start a local Ray with {workers} workers ({type(e).__name__}: {first}); "
                             "run with --workers 1, or again when the machine is less busy") from None
        hint = ("; a cluster with token authentication also needs RAY_AUTH_MODE=token and its token "
                "(RAY_AUTH_TOKEN or ~/.ray/auth_token) in this environment")
        raise InputError(None, f"cannot connect to the Ray cluster at {address!r} ({str(e).splitlines()[0][:200]}){hint}") from None
    return ray, True


def run_items(fn: Callable, items: Sequence[Item], workers: int = 1, ray_address: str | None = None,
              results: str | Path | None = None, resume: bool = True, config: dict | None = None,
              desc: str = "items", progress: bool = True, gpus_per_item: float = 0.0) -> DatasetRun:
    """Run `fn(*item.args)` for every item (see the module docstring); serial when `workers <= 1` and no
    cluster address is given, else on Ray with at most `workers` items at a time.

    `gpus_per_item` (e.g. 1 / workers for a CUDA model on one GPU) reserves that share of a GPU per Ray task:
    Ray hides every GPU from a task that asks for none (CUDA_VISIBLE_DEVICES=""), so `--device cuda` needs it.
    """
    from tqdm import tqdm

    t0 = time.perf_counter()
    keys = [it.key for it in items]
    if len(set(keys)) != len(keys):
        dup = next(k for k in keys if keys.count(k) > 1)
        raise InputError(None, f"two dataset items share the key {dup!r}")
    if workers < 1:
        raise InputError(None, f"--workers must be at least 1 (got {workers})")
    path = Path(results) if results is not None else None
    done: dict[str, Any] = {}
    if path is not None and resume and path.exists():
        done = {k: v for k, v in _read_results(path, config).items() if k in set(keys)}
    todo = [it for it in items if it.key not in done]
    use_ray = bool(todo) and (workers > 1 or ray_address is not None)
    run = DatasetRun(workers=workers, backend="ray" if use_ray else "serial", resumed=len(done))
    got: dict[str, tuple[bool, Any]] = {k: (True, v) for k, v in done.items()}
    writer = _Writer(path, config, fresh=not (resume and path is not None and path.exists()))
    bar = tqdm(total=len(items), initial=len(done), desc=desc, unit="item", disable=not progress,
               file=sys.stderr, dynamic_ncols=True, leave=False)

    def record(key, ok, value):
        got[key] = (ok, value)
        writer.write(key, ok, value)
        bar.update(1)
        if not ok:
            bar.write(f"{desc}: {key} failed: {value}", file=sys.stderr)

    try:
        if not use_ray:
            for it in todo:
                record(*_call(fn, it.key, it.args))
        else:
            ray, started = _start_ray(workers, ray_address)
            try:
                if gpus_per_item > 0 and ray.cluster_resources().get("GPU", 0) <= 0:
                    raise InputError(None, "the items need a GPU but the Ray cluster has none "
                                           "(run them with --device cpu, or on a cluster with GPUs)")
                remote = ray.remote(num_cpus=1, num_gpus=gpus_per_item, max_retries=0)(_call)
                fn_ref = ray.put(fn)
                pending = {remote.remote(fn_ref, it.key, it.args): it.key for it in todo}
                while pending:
                    ready, _ = ray.wait(list(pending), num_returns=1)
                    for ref in ready:
                        key = pending.pop(ref)
                        try:
                            record(*ray.get(ref))
                        except Exception as e:  # noqa: BLE001 - a worker that died is one failed item
                            record(key, False, f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")
            finally:
                if started:
                    ray.shutdown()
    finally:
        bar.close()
        writer.close()
    for k in keys:  # item order, whatever order they finished in
        ok, v = got[k]
        (run.results if ok else run.failed)[k] = v
    run.seconds = time.perf_counter() - t0
    return run
