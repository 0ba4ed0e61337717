"""Atomic writes keep the permissions a plain write would give: a new file gets 0o666 less the umask (mkstemp's
temp file is 0o600), a replaced file keeps its own mode."""
from __future__ import annotations

import os
import stat

import pytest

from scenelens.engine import atomic

pytestmark = pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def _mode(p) -> int:
    return stat.S_IMODE(os.stat(p).st_mode)


def test_new_file_follows_the_umask(tmp_path, umask_022):
    p = tmp_path / "export.json"
    atomic.write_text(p, "{}")
    assert _mode(p) == 0o644
    plain = tmp_path / "plain.json"
    plain.write_text("{}")
    assert _mode(p) == _mode(plain)


def test_other_umask(tmp_path):
    old = os.umask(0o007)
    try:
        atomic.save_npz(tmp_path / "grid.npz", a=[1, 2])
    finally:
        os.umask(old)
    assert _mode(tmp_path / "grid.npz") == 0o660


def test_replaced_file_keeps_its_mode(tmp_path, umask_022):
    p = tmp_path / "labels.txt"
    p.write_text("old")
    os.chmod(p, 0o640)
    atomic.write_text(p, "new")
    assert p.read_text() == "new"
    assert _mode(p) == 0o640


def test_umask_reader_matches_the_process(umask_022):
    assert atomic._umask() == 0o022
