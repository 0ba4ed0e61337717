"""User settings (window layout, recent files, device) in a JSON file under platformdirs' config folder.

JSON rather than QSettings so the file is readable, portable and written atomically; SCENELENS_CONFIG_DIR
overrides the folder (tests, portable installs).
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from scenelens.engine.atomic import write_text

MAX_RECENT = 10


def config_path() -> Path:
    base = os.environ.get("SCENELENS_CONFIG_DIR")
    if not base:
        from platformdirs import user_config_dir

        base = user_config_dir("SceneLens", appauthor=False)
    return Path(base) / "settings.json"


class Settings:
    def __init__(self) -> None:
        self.path = config_path()
        self.data: dict[str, Any] = {}
        try:
            self.data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            self.data = {}

    def get(self, key: str, default=None):
        return self.data.get(key, default)

    def set(self, key: str, value) -> None:
        self.data[key] = value

    def save(self) -> None:
        write_text(self.path, json.dumps(self.data, indent=1))

    @property
    def recent(self) -> list[str]:
        return [p for p in self.data.get("recent", []) if Path(p).exists()]

    def add_recent(self, path: str) -> None:
        path = str(Path(path).resolve())
        rec = [p for p in self.data.get("recent", []) if p != path]
        self.data["recent"] = [path] + rec[: MAX_RECENT - 1]
