"""Undo/redo restores state exactly; projects round-trip; atomic writes never leave a half file."""
import numpy as np
import pytest

from scenelens.engine.atomic import atomic_open
from scenelens.engine.errors import InputError
from scenelens.engine.project import Project, load_project, save_project
from scenelens.engine.undo import SetArrayValues, UndoStack


def test_undo_redo():
    a = np.zeros((4, 4), np.uint8)
    st = UndoStack()
    st.push(SetArrayValues(a, (slice(0, 2), slice(0, 2)), 7))
    st.push(SetArrayValues(a, (3, 3), 9))
    assert a.sum() == 4 * 7 + 9 and not st.is_clean
    st.undo()
    assert a[3, 3] == 0 and a.sum() == 28
    st.undo()
    assert a.sum() == 0 and not st.can_undo
    st.redo()
    st.redo()
    assert a.sum() == 37 and not st.can_redo


def test_project_roundtrip(tmp_path):
    scene = tmp_path / "a" / "data" / "scene.json"
    scene.parent.mkdir(parents=True)
    scene.write_text("{}")
    p = Project(scene_path=str(scene), frame_index=3, visibility={"a": False},
                annotations={"labels": np.arange(12, dtype=np.uint8).reshape(3, 4), "note": {"k": [1, 2]}})
    save_project(tmp_path / "a" / "p.slproj", p)
    (tmp_path / "a").rename(tmp_path / "moved")  # the scene path is relative to the project file
    q = load_project(tmp_path / "moved" / "p.slproj")
    assert q.scene_path == str((tmp_path / "moved" / "data" / "scene.json").resolve())
    assert q.frame_index == 3 and q.visibility == {"a": False}
    np.testing.assert_array_equal(q.annotations["labels"], p.annotations["labels"])
    assert q.annotations["note"] == {"k": [1, 2]}
    (tmp_path / "moved" / "data" / "scene.json").unlink()
    with pytest.raises(InputError, match="scene.json is missing"):
        load_project(tmp_path / "moved" / "p.slproj")
    (tmp_path / "bad.slproj").write_bytes(b"not a zip")
    with pytest.raises(InputError, match="bad.slproj"):
        load_project(tmp_path / "bad.slproj")


def test_atomic_write_keeps_old_file_on_failure(tmp_path):
    f = tmp_path / "out.txt"
    f.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_open(f, "w") as fh:
            fh.write("new partial")
            raise RuntimeError("disk full")
    assert f.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]
