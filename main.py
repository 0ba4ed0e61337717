"""`python main.py …` in a source checkout: the `scenelens` command (its code is gui/scenelens/cli.py, installed
as `scenelens.cli`). The checkout must be installed first (`pip install -e .`; scripts/setup.sh does it), which
maps engine/, gui/ and gui/scenelens/ onto the one package `scenelens`."""
# namespace-codemod: launcher
import sys

try:
    from scenelens.cli import main
except ModuleNotFoundError as e:
    if e.name not in ("scenelens", "scenelens.cli"):
        raise
    sys.exit(f"SceneLens is not installed for {sys.executable}: run `pip install -e .` in this folder "
             "(bash scripts/setup.sh does it)")

if __name__ == "__main__":
    sys.exit(main())
