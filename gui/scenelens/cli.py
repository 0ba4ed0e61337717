"""SceneLens entry point: argument parsing, then the window or a headless command (render, run, eval, and the
verbs under engine/commands such as export).

Bad input on any command prints one line naming the file and the fault to stderr and exits 2.
"""
from __future__ import annotations

import argparse
import sys

from scenelens.engine import __version__
from scenelens.engine.errors import InputError, SceneLensError

DEVICES = ("auto", "cpu", "cuda")
GUI_HELP = """\
usage: scenelens [PATH [PATH2]] [--device auto|cpu|cuda]
       scenelens render PATH --out PNG [--size WxH] [--view NAME]
       scenelens run TASK INPUTS... --out OUT [--device D] [--model NAME|adapter.py]
       scenelens eval TASK --pred P --gt G [--json]
{extra}
With no command, opens the window: on PATH (a file, a folder, a scene manifest or a .slproj project), on the
built-in demo scene, or on two files that go together: two point clouds (registration source and target), a
video or image with its pose results JSON, or two trajectory files (compared: APE / RPE).

options:
  -h, --help           show this help and exit
  --version            show the version and exit
  --device D           compute device for jobs: auto (CUDA when present), cpu or cuda
                       (default: the one chosen in Settings, else auto)

`scenelens run` and `scenelens eval` list their tasks; `scenelens run TASK --help` describes one.
Adapter files (--model path/to/adapter.py) are Python code and run with your rights: open only your own.
"""


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
        if w <= 0 or h <= 0 or w > 16384 or h > 16384:
            raise ValueError
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must be WxH, e.g. 1280x800 (got {text!r})") from None
    return w, h


def _device(text: str) -> str:
    if text.lower() not in DEVICES:
        raise argparse.ArgumentTypeError(f"unknown device {text!r} (use {', '.join(DEVICES)})")
    return text.lower()


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line and exit 2, as for every bad input
        self.exit(2, f"{self.prog}: error: {message}\n")


def _task_parser(verb: str, task_name: str) -> argparse.ArgumentParser:
    from scenelens.engine.tasks import get_task

    task = get_task(task_name, verb)
    p = _Parser(prog=f"scenelens {verb} {task_name}", description=task.description)
    if verb == "run":
        p.add_argument("--device", default="auto", type=_device, help="auto (CUDA when present), cpu or cuda")
        p.add_argument("--model", default=None,
                       help="built-in model name, or a path to an adapter .py (Python code: it runs with your rights)")
        p.add_argument("--allow-outside-paths", action="store_true",
                       help="let paths inside input files (manifest entries, info files) leave their folder")
        p.add_argument("--trust-model", action="store_true",
                       help="allow a pickled model file (a whole torch.save'd module) to be unpickled: that can run "
                            "any code, so only for files you trust (TorchScript, .safetensors and weights never need it)")
        task.add_run_args(p)
    else:
        task.add_eval_args(p)
    return p


def _task_list(verb: str) -> str:
    from scenelens.engine.tasks import tasks

    rows = [(n, t.description) for n, t in sorted(tasks().items()) if (t.run_cli if verb == "run" else t.eval_cli)]
    width = max((len(n) for n, _ in rows), default=0)
    return "\n".join(f"  {n.ljust(width)}  {d}" for n, d in rows)


def _run_or_eval(verb: str, argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        out = sys.stdout if argv else sys.stderr
        print(f"usage: scenelens {verb} TASK ... ({'INPUTS... --out OUT' if verb == 'run' else '--pred P --gt G'})\n\n"
              f"tasks:\n{_task_list(verb)}\n\n`scenelens {verb} TASK --help` describes one.", file=out)
        return 0 if argv else 2
    name = argv[0]
    p = _task_parser(verb, name)
    args = p.parse_args(argv[1:])
    if getattr(args, "allow_outside_paths", False):
        from scenelens.engine.io.limits import allow_outside_paths

        allow_outside_paths(True)
    if getattr(args, "trust_model", False) and getattr(args, "model", None):
        from pathlib import Path

        from scenelens.engine.trust import trust_model_file

        if Path(args.model).is_file() and not args.model.endswith(".py"):
            trust_model_file(args.model)
    from scenelens.engine.tasks import get_task

    t = get_task(name, verb)
    try:
        return int((t.run_cli if verb == "run" else t.eval_cli)(args) or 0)
    except SceneLensError as e:
        if isinstance(e, InputError):
            raise
        print(f"scenelens {verb} {name}: {e}", file=sys.stderr)
        return 1


def _render(argv: list[str]) -> int:
    p = _Parser(prog="scenelens render", description="draw a scene offscreen to a PNG")
    p.add_argument("path", help="scene file, folder, manifest or project")
    p.add_argument("--out", required=True)
    p.add_argument("--size", type=_size, default=(1280, 800))
    p.add_argument("--view", default="iso", help="iso, top, front, side, bev")
    p.add_argument("--allow-outside-paths", action="store_true",
                   help="let paths inside the scene's files (manifest entries, info files) leave their folder")
    args = p.parse_args(argv)
    from pathlib import Path

    out_dir = Path(args.out).parent
    if not out_dir.is_dir():
        raise InputError(args.out, f"output folder {out_dir} does not exist")
    if args.allow_outside_paths:
        from scenelens.engine.io.limits import allow_outside_paths

        allow_outside_paths(True)
    from scenelens.gui.render import render_file

    out = render_file(args.path, args.out, args.size, args.view)
    print(f"wrote {out} ({args.size[0]}x{args.size[1]})")
    return 0


def _command(name: str, argv: list[str]) -> int:
    from scenelens.engine.commands import commands

    c = commands()[name]
    p = _Parser(prog=f"scenelens {name}", description=c.help)
    c.add_args(p)
    return int(c.run(p.parse_args(argv)) or 0)


def _gui(argv: list[str]) -> int:
    from scenelens.engine.commands import commands

    extra = "".join(f"       scenelens {n} ...   {c.help}\n" for n, c in sorted(commands().items()))
    p = _Parser(prog="scenelens", add_help=False, usage=argparse.SUPPRESS)
    p.add_argument("-h", "--help", action="store_true")
    p.add_argument("--version", action="version", version=f"SceneLens {__version__}")
    p.add_argument("--device", default=None, type=_device)
    p.add_argument("paths", nargs="*")
    args = p.parse_args(argv)
    if args.help:
        print(GUI_HELP.format(extra=extra), end="")
        return 0
    if len(args.paths) > 2:
        p.error(f"at most two paths (a scene, or two files that go together: see --help); got {len(args.paths)}: "
                f"{' '.join(args.paths[2:])} is extra")
    from pathlib import Path

    for path in args.paths:
        if not Path(path).exists():
            raise InputError(path, "no such file or folder")
    if args.device is not None:
        from scenelens.engine.device import resolve_device

        resolve_device(args.device)  # cuda without a CUDA device: one line, exit 2, before any window
    from scenelens.gui.app import run_app

    return run_app(list(args.paths), args.device)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    verb = argv[0] if argv else ""
    try:
        if verb in ("run", "eval"):
            return _run_or_eval(verb, argv[1:])
        if verb == "render":
            return _render(argv[1:])
        if verb and not verb.startswith("-"):
            from scenelens.engine.commands import commands

            if verb in commands():
                return _command(verb, argv[1:])
        return _gui(argv)
    except InputError as e:
        print(f"scenelens{' ' + verb if verb in ('run', 'eval', 'render') else ''}: {e}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `scenelens eval … | head`: the reader left; nothing more to say
        import os

        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except OSError:
            pass
        return 0
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
