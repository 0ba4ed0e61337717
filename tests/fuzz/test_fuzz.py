"""≥ 200 hostile files through every reader, model loading and projects: each refused in one line naming the
file (exit 2), with no traceback, in under 10 s and 2 GB, and no pickle payload ever executed.

The corpus (tests/fuzz/corpus.py) runs through one long-lived worker that forks a resource-limited child per
case (tests/fuzz/worker.py), so the whole suite takes about two minutes rather than 200 interpreter starts.
Projects (.slproj) are opened by engine/project.py (owned by the session API); their verdicts are printed and
their payloads checked, and they are asserted once that loader calls engine.io.limits.check_zip.
"""
from __future__ import annotations

import pytest

from .harness import report, run


def test_hostile_corpus_is_rejected_cleanly(tmp_path_factory, capsys):
    root = tmp_path_factory.mktemp("fuzz")
    verdicts, ran = run(root)
    text = report(verdicts, ran)
    with capsys.disabled():
        print("\n" + text)
    assert len(verdicts) >= 200
    assert not ran, f"pickle payloads executed: {[p.name for p in ran]}"
    strict = [v for v in verdicts if v.case.entry != "project"]
    bad = [f"{v.case.kind} ({v.case.path.name}): {v.why}" for v in strict if not v.ok]
    assert not bad, "\n".join(bad)
    kinds = {v.case.entry for v in verdicts}
    assert kinds == {"render", "model", "project", "eval", "image"}
