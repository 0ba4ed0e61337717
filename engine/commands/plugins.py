"""`scenelens plugins`: every installed plug-in (entry points in the scenelens.* groups) with its state, and any
in-tree module that failed to import. `--check` exits 1 when one failed (for CI)."""
from __future__ import annotations

import argparse
import json

from . import Command


def _add_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print the list as JSON")
    p.add_argument("--check", action="store_true", help="exit 1 if a plug-in failed to load")
    p.add_argument("--no-gui", action="store_true", help="do not import the workbench plug-ins (they import Qt)")


def _run(args: argparse.Namespace) -> int:
    from ..adapters import builtin_adapters
    from ..io import readers
    from ..plugins import GROUPS, entry_point_plugins, records
    from ..tasks import tasks
    from . import commands

    # load every group through its own registry, so registry-level checks (e.g. "defines no Task") apply
    readers()
    tasks()
    builtin_adapters()
    commands()
    if not args.no_gui:
        entry_point_plugins("workbenches")  # imported here; the window checks they hold Workbench classes
    recs = records()
    if args.json:
        print(json.dumps([r.as_dict() for r in recs], indent=1))
    else:
        if not recs:
            print(f"no plug-ins installed (entry-point groups: {', '.join(GROUPS.values())})")
        for r in recs:
            where = r.dist or "in-tree"
            print(f"{r.state:<7s} {r.group:<22s} {r.name:<20s} {r.target} [{where}]"
                  + (f"\n        {r.error}" if r.error else ""))
    return 1 if args.check and any(r.state == "failed" for r in recs) else 0


COMMAND = Command("plugins", "list installed plug-ins (readers, models, workbenches, tasks, commands) and their state",
                  _add_args, _run)
