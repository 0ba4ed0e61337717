"""`engine.io.limits.read_npy_header`: numpy's public header readers for .npy versions 1.0 and 2.0, our own parse
of 3.0, the header-size limit judged before the header is read, and one ValueError for every fault."""
from __future__ import annotations

import io
import struct

import numpy as np
import pytest

from scenelens.engine.errors import InputError
from scenelens.engine.io.limits import MAX_NPY_HEADER, check_npy_stream, read_npy_header

MAGIC = b"\x93NUMPY"


def _npy(arr: np.ndarray, version) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array(buf, arr, version=version, allow_pickle=False)
    return buf.getvalue()


def _raw(version, header: str | bytes, pad: bool = True) -> bytes:
    """A .npy header written by hand (what a forger or another writer could put in a file)."""
    h = header.encode("utf-8") if isinstance(header, str) else header
    if pad:
        h += b"\n"
    fmt = "<H" if version == (1, 0) else "<I"
    return MAGIC + bytes(version) + struct.pack(fmt, len(h)) + h


class _Reads(io.BytesIO):
    """Counts the bytes asked for, to show an oversized header is refused before it is read."""

    def __init__(self, data):
        super().__init__(data)
        self.asked = 0

    def read(self, n=-1):
        self.asked += n if n >= 0 else 0
        return super().read(n)


@pytest.mark.parametrize("version", [(1, 0), (2, 0), (3, 0)])
@pytest.mark.parametrize("arr", [np.zeros((5, 3), np.float32), np.arange(12, dtype=">i8").reshape(3, 4).T,
                                 np.zeros(4, [("x", "<f8"), ("label", "u1")]), np.zeros((), np.uint16)])
def test_header_of_every_version_matches_the_array_and_leaves_the_stream_at_the_data(version, arr):
    data = _npy(arr, version)
    f = io.BytesIO(data)
    shape, fortran, dtype = read_npy_header(f)
    assert shape == arr.shape and dtype == arr.dtype
    assert fortran == (arr.flags.f_contiguous and not arr.flags.c_contiguous)
    body = np.frombuffer(f.read(), dtype)  # exactly the array's bytes follow
    assert body.size == arr.size and body.tobytes() == np.asfortranarray(arr).tobytes(order="A")


def test_version_3_keeps_unicode_field_names():
    arr = np.zeros(3, [("名前", "<i4"), ("x", "<f4")])
    data = _npy(arr, None)  # numpy picks 3.0 itself: the names are not Latin-1
    assert data[6:8] == b"\x03\x00"
    shape, _, dtype = read_npy_header(io.BytesIO(data))
    assert shape == (3,) and dtype.names == ("名前", "x")


@pytest.mark.parametrize("version", [(2, 0), (3, 0)])
def test_a_declared_huge_header_is_refused_before_it_is_read(version):
    data = MAGIC + bytes(version) + struct.pack("<I", 1_000_000_000) + b"{" * 100
    f = _Reads(data)
    with pytest.raises(ValueError, match="header is 1,000,000,000 bytes"):
        read_npy_header(f)
    assert f.asked < 100
    with pytest.raises(ValueError):  # a caller's own smaller limit also holds
        read_npy_header(io.BytesIO(_npy(np.zeros(3), (1, 0))), max_header_size=20)


@pytest.mark.parametrize("data, fault", [
    (MAGIC + b"\x09\x00" + b"x" * 20, "version"),
    (MAGIC[:4], "magic"),
    (MAGIC + b"\x01\x00" + b"\x40", "truncated"),
    (MAGIC + b"\x01\x00" + struct.pack("<H", 80) + b"{'descr'", "truncated"),
    (MAGIC + b"\x03\x00" + struct.pack("<I", 80) + b"{'descr'", "truncated"),
])
def test_broken_prefixes_are_value_errors(data, fault):
    with pytest.raises(ValueError, match=fault):
        read_npy_header(io.BytesIO(data))


@pytest.mark.parametrize("version", [(1, 0), (2, 0), (3, 0)])
@pytest.mark.parametrize("header", [
    "[1, 2, 3]",
    "{'descr': '<f4', 'fortran_order': False}",
    "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), 'extra': 1}",
    "{'descr': '<f4', 'fortran_order': False, 'shape': [3]}",
    "{'descr': '<f4', 'fortran_order': False, 'shape': (3.5,)}",
    "{'descr': '<f4', 'fortran_order': 0, 'shape': (3,)}",
    "{'descr': 42, 'fortran_order': False, 'shape': (3,)}",
    "{'descr': '<f4', 'fortran_order': False, 'shape': (3,)",
    "__import__('os').system('true')",
])
def test_malformed_headers_are_value_errors_in_every_version(version, header):
    with pytest.raises(ValueError):
        read_npy_header(io.BytesIO(_raw(version, header)))


def test_version_3_header_that_is_not_utf8_is_a_value_error():
    with pytest.raises(ValueError, match="UnicodeDecodeError"):
        read_npy_header(io.BytesIO(_raw((3, 0), b"{'descr': '\xff', 'fortran_order': False, 'shape': (3,)}")))


def test_check_npy_stream_names_the_file_for_a_forged_v3_header():
    data = _raw((3, 0), "{'descr': '<f8', 'fortran_order': False, 'shape': (1000000000,), }") + b"\0" * 64
    with pytest.raises(InputError, match="truncated or forged") as e:
        check_npy_stream("forged.npy", io.BytesIO(data), len(data))
    assert "forged.npy" in str(e.value)
    big = MAGIC + b"\x02\x00" + struct.pack("<I", MAX_NPY_HEADER + 1) + b" " * (MAX_NPY_HEADER + 1)
    with pytest.raises(InputError, match="unreadable .npy header"):
        check_npy_stream("big.npy", io.BytesIO(big), len(big))
