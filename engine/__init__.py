"""SceneLens engine: loaders, scene model, jobs and tasks. Plain Python + numpy + torch.

The engine never imports Qt, VTK or pyqtgraph, so every computation the GUI offers is reachable
headless from the CLI and from tests.
"""
# namespace-codemod: guard (begin)
if __name__ != 'scenelens.engine':  # one name per file: never a second copy of every module under another name
    raise ImportError(f"cannot import {__name__}: the folder engine/ is the package scenelens.engine "
                      "(import scenelens.engine instead; a checkout is installed with `pip install -e .`)")
# namespace-codemod: guard (end)
import os as _os

# Passive OpenMP waiting, before torch (or anything else linking libgomp) is first loaded: with spin-waiting
# threads, one other CPU-bound process on the machine made a 0.3 s registration take 4.5–5 s (the idle OpenMP
# workers spin and starve each other; issue 17, bench/bench_registration.py --contention). A user's own setting
# wins; an empty value keeps libgomp's default.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"
