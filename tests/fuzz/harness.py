"""Run the hostile corpus through the worker and judge each result (shared by the test and `python -m tests.fuzz`)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from .corpus import MARKER, Case, generate

ROOT = Path(__file__).resolve().parents[2]
MEM = 2 << 30
SECONDS = 10


@dataclass
class Verdict:
    case: Case
    ok: bool
    why: str
    result: dict


def _lines(stderr: str) -> list[str]:
    return [ln for ln in stderr.splitlines() if ln.strip()]


def judge(case: Case, r: dict) -> Verdict:
    lines = _lines(r["stderr"])
    names = (case.path.name, *case.names)
    if r["signal"]:
        return Verdict(case, False, f"killed by signal {r['signal']} after {r['wall']:.1f} s", r)
    if "Traceback" in r["stderr"]:
        return Verdict(case, False, "traceback: " + (lines[-1] if lines else ""), r)
    if r["wall"] > SECONDS:
        return Verdict(case, False, f"took {r['wall']:.1f} s", r)
    if r["maxrss_kb"] * 1024 > MEM:
        return Verdict(case, False, f"peak RSS {r['maxrss_kb'] >> 10} MiB", r)
    if case.expect == "reject":
        if r["rc"] != 2:
            return Verdict(case, False, f"exit {r['rc']} (accepted)" + (f": {lines[-1]}" if lines else ""), r)
        if len(lines) != 1:
            return Verdict(case, False, f"{len(lines)} stderr lines: {' | '.join(lines)[:300]}", r)
        if not any(nm in lines[0] for nm in names):
            return Verdict(case, False, f"line does not name the file: {lines[0][:300]}", r)
        return Verdict(case, True, lines[0], r)
    if r["rc"] != 0:
        return Verdict(case, False, f"exit {r['rc']}: {' | '.join(lines)[:300]}", r)
    if case.expect == "warn":
        warn = [ln for ln in lines if "warning" in ln.lower() and any(nm in ln for nm in names)]
        if len(warn) != 1 or not any(ch.isdigit() for ch in warn[0]):
            return Verdict(case, False, f"no one-line warning with a count: {' | '.join(lines)[:300]}", r)
        return Verdict(case, True, warn[0], r)
    return Verdict(case, True, "accepted", r)


def run(root: Path, bomb_bytes: int = 768 << 20, budget: str = "512M") -> tuple[list[Verdict], list[Path]]:
    root = Path(root)
    cases = generate(root / "corpus", bomb_bytes)
    import cv2
    import numpy as np

    image = root / "valid.png"
    cv2.imwrite(str(image), (np.random.default_rng(0).random((64, 64, 3)) * 255).astype(np.uint8))
    env = dict(os.environ, OMP_NUM_THREADS="1", OMP_WAIT_POLICY="PASSIVE", QT_QPA_PLATFORM="offscreen",
               TQDM_DISABLE="1", VTK_DEFAULT_OPENGL_WINDOW="vtkEGLRenderWindow", FUZZ_MEM=str(MEM), FUZZ_SECONDS=str(SECONDS), SCENELENS_MAX_MEMORY=budget,
               PYTHONPATH=str(ROOT))
    env.setdefault("SCENELENS_STATE_DIR", str(root / "state"))
    env.setdefault("SCENELENS_CONFIG_DIR", str(root / "config"))
    lines = "".join(json.dumps({"path": str(c.path), "entry": c.entry, "work": str(root / "work" / f"{i:03d}"),
                                "image": str(image)}) + "\n" for i, c in enumerate(cases))
    p = subprocess.run([sys.executable, "-m", "tests.fuzz.worker"], input=lines, capture_output=True, text=True,
                       cwd=ROOT, env=env, timeout=60 * 30)
    results = [json.loads(ln) for ln in p.stdout.splitlines() if ln.startswith("{")]
    if len(results) != len(cases):
        raise RuntimeError(f"worker stopped after {len(results)} of {len(cases)} cases: {p.stderr[-2000:]}")
    verdicts = [judge(c, r) for c, r in zip(cases, results)]
    ran = sorted(Path(root / "corpus").glob(f"{MARKER}*"))
    return verdicts, ran


def report(verdicts: list[Verdict], ran: list[Path]) -> str:
    good = sum(v.ok for v in verdicts)
    out = [f"{len(verdicts)} hostile inputs: {good} rejected cleanly"
           + (f", {len(verdicts) - good} not" if good != len(verdicts) else "")
           + (f"; PAYLOADS RAN: {len(ran)}" if ran else "; no payload ran")]
    for v in verdicts:
        if not v.ok:
            out.append(f"  FAIL {v.case.kind} ({v.case.path.name}): {v.why}")
    return "\n".join(out)


if __name__ == "__main__":
    import tempfile

    root = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp(prefix="fuzz"))
    vs, ran = run(root)
    print(report(vs, ran))
    print(f"slowest: {max(v.result['wall'] for v in vs):.2f} s, max RSS {max(v.result['maxrss_kb'] for v in vs) >> 10} MiB")
    for v in sorted(vs, key=lambda v: -v.result["wall"])[:8]:
        print(f"  {v.result['wall']:.2f} s  {v.result['maxrss_kb'] >> 10} MiB  {v.case.entry:8s} {v.case.kind}")
    tot: dict[str, float] = {}
    for v in vs:
        tot[v.case.entry] = tot.get(v.case.entry, 0.0) + v.result["wall"]
    print("  wall per entry:", ", ".join(f"{k} {t:.0f} s" for k, t in sorted(tot.items())))
