"""SceneLens entry point: argument parsing, then the window or a headless command (render, run, eval).

Bad input on any command prints one line naming the file and the fault to stderr and exits 2.
"""
from __future__ import annotations

import argparse
import sys

from engine import __version__
from engine.errors import InputError, SceneLensError


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
        if w <= 0 or h <= 0 or w > 16384 or h > 16384:
            raise ValueError
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must be WxH, e.g. 1280x800 (got {text!r})") from None
    return w, h


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line and exit 2, as for every bad input
        self.exit(2, f"{self.prog}: error: {message}\n")


def _task_parser(verb: str, task_name: str) -> argparse.ArgumentParser:
    from engine.tasks import get_task

    task = get_task(task_name, verb)
    p = _Parser(prog=f"scenelens {verb} {task_name}", description=task.description)
    if verb == "run":
        p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
        p.add_argument("--model", default=None, help="built-in model name or path to an adapter .py")
        task.add_run_args(p)
    else:
        task.add_eval_args(p)
    return p


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in ("run", "eval") and len(argv) >= 2 and not argv[1].startswith("-"):
        verb, name = argv[0], argv[1]
        try:
            p = _task_parser(verb, name)
            args = p.parse_args(argv[2:])
            from engine.tasks import get_task

            t = get_task(name, verb)
            return int((t.run_cli if verb == "run" else t.eval_cli)(args) or 0)
        except InputError as e:
            print(f"scenelens {verb}: {e}", file=sys.stderr)
            return 2
        except SceneLensError as e:
            print(f"scenelens {verb} {name}: {e}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            return 130

    p = _Parser(prog="scenelens", description="SceneLens: a workbench for 3D perception models.")
    p.add_argument("--version", action="version", version=f"SceneLens {__version__}")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    sub = p.add_subparsers(dest="command")
    r = sub.add_parser("render", help="draw a scene offscreen to a PNG")
    r.add_argument("path")
    r.add_argument("--out", required=True)
    r.add_argument("--size", type=_size, default=(1280, 800))
    r.add_argument("--view", default="iso", help="iso, top, front, side, bev")
    for verb in ("run", "eval"):
        s = sub.add_parser(verb, help=f"{verb} a task headless: scenelens {verb} TASK …")
        s.add_argument("task", nargs="?")
    p.add_argument("paths", nargs="*", help="scene file, folder, manifest or project to open")
    if argv and argv[0] not in ("render", "run", "eval") and not argv[0].startswith("-"):
        args = argparse.Namespace(command=None, paths=argv[:1], device="auto")
        for i, a in enumerate(argv[1:]):
            if a == "--device" and i + 2 < len(argv):
                args.device = argv[i + 2]
    else:
        args = p.parse_args(argv)
    try:
        if args.command == "render":
            from gui.render import render_file

            out = render_file(args.path, args.out, args.size, args.view)
            print(f"wrote {out} ({args.size[0]}x{args.size[1]})")
            return 0
        if args.command in ("run", "eval"):
            from engine.tasks import tasks

            names = sorted(n for n, t in tasks().items() if (t.run_cli if args.command == "run" else t.eval_cli))
            if not args.task:
                print(f"scenelens {args.command}: name a task (available: {', '.join(names)})", file=sys.stderr)
            else:
                print(f"scenelens {args.command}: unknown task {args.task!r} (available: {', '.join(names)})", file=sys.stderr)
            return 2
        from gui.app import run_app

        return run_app(list(args.paths or []), args.device)
    except InputError as e:
        print(f"scenelens: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
