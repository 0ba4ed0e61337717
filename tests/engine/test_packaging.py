"""pyproject's explicit package list (needed to install gui/scenelens as `scenelens`) names every package folder,
so a new subpackage cannot silently go missing from an installed copy."""
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_package_folder_is_listed():
    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(cfg["packages"])
    found = {".".join(p.parent.relative_to(ROOT).parts) for top in ("engine", "gui") for p in (ROOT / top).rglob("__init__.py")
             if "__pycache__" not in p.parts}
    assert found <= listed, sorted(found - listed)
    assert cfg["package-dir"]["scenelens"] == "gui/scenelens" and "scenelens" in listed
