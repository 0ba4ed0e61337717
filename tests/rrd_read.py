"""Read a `.rrd` back with rerun-sdk's own reader (`rerun.chunk.RrdReader`), for the export tests.

Columns are named as rerun-sdk names them, `Archetype:field` (e.g. `Points3D:positions`). Static data: the last
static row of an entity's column; temporal data: (index value, row) pairs on one timeline, in index order.
"""
from __future__ import annotations

from pathlib import Path

import pytest


class Recording:
    def __init__(self, path: str | Path):
        rr = pytest.importorskip("rerun")
        if not hasattr(rr, "chunk") or not hasattr(rr.chunk, "RrdReader"):
            pytest.skip(f"rerun-sdk {rr.__version__} has no rerun.chunk.RrdReader to read a recording back")
        self.path = Path(path)
        self.chunks = [(c.entity_path, c.is_static, c.to_record_batch()) for c in rr.chunk.RrdReader(str(path)).stream()]

    def entities(self) -> set[str]:
        return {e for e, _, _ in self.chunks if not e.startswith("/__")}

    def columns(self, entity: str) -> set[str]:
        return {n for e, _, b in self.chunks if e == entity for n in b.schema.names}

    def static(self, entity: str, column: str):
        """The column's value in the entity's last static row (a pyarrow list scalar: `.values` is the batch)."""
        found = [b for e, s, b in self.chunks if e == entity and s and column in b.schema.names]
        assert found, (entity, column, sorted(self.columns(entity)))
        col = found[-1].column(column)
        return col[len(col) - 1]

    def temporal(self, entity: str, column: str, index: str) -> list[tuple[int, object]]:
        """[(index value, row value as a Python list)] of the entity's rows on timeline `index`, in index order."""
        rows = []
        for e, s, b in self.chunks:
            if e != entity or s or column not in b.schema.names or index not in b.schema.names:
                continue
            for t, v in zip(b.column(index).to_pylist(), b.column(column).to_pylist()):
                if v is not None:
                    rows.append((t, v))
        return sorted(rows, key=lambda r: r[0])

    def timeline_rows(self, prefix: str, index: str) -> list[int]:
        """Index values of all rows on `index` of the entities under `prefix` (one per logged row)."""
        out = []
        for e, s, b in self.chunks:
            if not s and (e == prefix or e.startswith(prefix.rstrip("/") + "/")) and index in b.schema.names:
                out += b.column(index).to_pylist()
        return sorted(out)
