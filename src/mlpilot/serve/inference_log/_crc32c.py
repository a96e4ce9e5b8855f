"""CRC32C (Castagnoli), the checksum on every inference-log record.

A native implementation is used when one is importable (``google_crc32c`` or
``crc32c``). Otherwise a table-driven one runs: plain Python for short inputs,
and for batches a numpy path that checks many records at once (one lane per
record, eight bytes per step, slicing-by-8 with 16-bit tables). Long inputs are
cut into fixed-size lanes whose checksums are joined with a "shift by N zero
bytes" operator, so one megabyte costs about as much as a thousand records.

>>> hex(crc32c(b"123456789"))
'0xe3069283'
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import lru_cache

import numpy as np

__all__ = ["crc32c", "crc32c_many", "NATIVE"]

_POLY = 0x82F63B78  # CRC32C, reflected
_MASK = 0xFFFFFFFF
_SHORT = 2048  # below this, plain Python beats numpy for a single input
_LANE = 1024  # batch lanes longer than this are split and joined


def _load_native() -> Callable[[bytes], int] | None:
    try:
        import google_crc32c

        if getattr(google_crc32c, "implementation", "c") == "c":
            return lambda data: int(google_crc32c.value(bytes(data)))
    except ImportError:
        pass
    try:
        import crc32c as _crc32c
    except ImportError:
        return None
    if getattr(_crc32c, "__file__", None) == __file__:  # this very module, via sys.path
        return None
    return lambda data: int(_crc32c.crc32c(data))


_native = _load_native()
NATIVE = _native is not None
"""True when a compiled CRC32C implementation is in use."""


def _byte_table() -> list[int]:
    table = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ _POLY if c & 1 else c >> 1
        table.append(c)
    return table


_TABLE = _byte_table()


def _crc32c_py(data: bytes | memoryview) -> int:
    crc = _MASK
    table = _TABLE
    for b in bytes(data):
        crc = table[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ _MASK


@lru_cache(maxsize=1)
def _wide_tables() -> tuple[np.ndarray, ...]:
    """Four 16-bit tables: the effect of bytes 0-1, 2-3, 4-5, 6-7 of an 8-byte step."""
    t = [np.array(_TABLE, dtype=np.uint32)]
    for _ in range(7):  # t[k][b]: byte b followed by k zero bytes
        prev = t[-1]
        t.append((prev >> 8) ^ t[0][prev & 0xFF])
    x = np.arange(65536, dtype=np.uint32)
    lo, hi = x & 0xFF, x >> 8
    return tuple(t[k + 1][lo] ^ t[k][hi] for k in (6, 4, 2, 0))


@lru_cache(maxsize=8)
def _shift_tables(nbytes: int) -> tuple[list[int], ...]:
    """Byte-sliced tables of the linear map "run ``nbytes`` zero bytes through the register"."""
    va, vb, _, _ = _wide_tables()
    r = (np.arange(256, dtype=np.uint32)[None, :] << (8 * np.arange(4, dtype=np.uint32))[:, None])
    r = r.ravel()
    for _ in range(nbytes // 8):
        r = va[r & 0xFFFF] ^ vb[r >> 16]
    return tuple(r.reshape(4, 256)[p].tolist() for p in range(4))


def _raw_lanes(lanes: list[bytes | memoryview], lens: np.ndarray, first: np.ndarray,
               width: int) -> np.ndarray:
    """Register value (init 0, no final xor) after each lane, right-aligned in ``width`` bytes.

    Leading zero bytes leave a zero register unchanged, so padding at the front is
    free; the standard all-ones initial value equals inverting a lane's first four
    bytes, which ``first`` asks for.
    """
    n = len(lanes)
    pads = (width - lens).tolist()
    buf = bytearray(b"".join([b for x, p in zip(lanes, pads, strict=True) for b in (bytes(p), x)]))
    arr = np.frombuffer(buf, dtype=np.uint8).reshape(n, width)
    rows = np.flatnonzero(first)
    if rows.size:
        arr[rows[:, None], (width - lens[rows])[:, None] + np.arange(4)] ^= 0xFF
    words = arr.view("<u2").reshape(n, width // 8, 4).transpose(1, 2, 0)
    va, vb, vc, vd = _wide_tables()
    h0 = words[:, 0].astype(np.uint32)
    h1 = words[:, 1].astype(np.uint32)
    z = vc[words[:, 2]] ^ vd[words[:, 3]]
    r = np.zeros(n, dtype=np.uint32)
    lo = np.empty(n, dtype=np.uint32)
    hi = np.empty(n, dtype=np.uint32)
    # Skip the leading columns that are padding in every lane.
    for j in range((width - int(lens.max())) // 8, width // 8):
        np.bitwise_and(r, 0xFFFF, out=lo)
        lo ^= h0[j]
        np.right_shift(r, 16, out=hi)
        hi ^= h1[j]
        r = va[lo]
        r ^= vb[hi]
        r ^= z[j]
    return r


def _many_numpy(items: Sequence[bytes | bytearray | memoryview], lane: int) -> list[int]:
    lens = [len(x) for x in items]
    if lens and min(lens) >= 4 and max(lens) <= lane:  # the common case: short records
        lanes: list = list(items)
        owners = None
        first = np.ones(len(lanes), dtype=bool)
        out = [0] * len(items)
    else:
        out, lanes, lens, first_list, owners = _split(items, lens, lane)
        if not lanes:
            return out
        first = np.asarray(first_list, dtype=bool)
    lens_a = np.asarray(lens, dtype=np.intp)
    widths = np.maximum(64, 1 << np.ceil(np.log2(np.maximum(lens_a, 1))).astype(np.intp))
    raw = np.zeros(len(lanes), dtype=np.uint32)
    # Bucket lanes by padded width so that one long record does not pad all others.
    for width in np.unique(widths).tolist():
        idx = np.flatnonzero(widths == width)
        sub = lanes if idx.size == len(lanes) else [lanes[k] for k in idx.tolist()]
        raw[idx] = _raw_lanes(sub, lens_a[idx], first[idx], width)
    values = raw.tolist()
    if owners is None:
        return [v ^ _MASK for v in values]
    s0, s1, s2, s3 = _shift_tables(lane) if any(c > 1 for _, _, c in owners) else ([],) * 4
    for i, start, count in owners:
        y = values[start]
        for k in range(start + 1, start + count):
            y = s0[y & 0xFF] ^ s1[(y >> 8) & 0xFF] ^ s2[(y >> 16) & 0xFF] ^ s3[y >> 24]
            y ^= values[k]
        out[i] = y ^ _MASK
    return out


def _split(items: Sequence[bytes | bytearray | memoryview], lens: list[int], lane: int) -> tuple:
    """Cut long items into lanes of ``lane`` bytes (the first lane takes the remainder)."""
    out = [0] * len(items)
    lanes: list[memoryview] = []
    lane_lens: list[int] = []
    first: list[bool] = []
    owners: list[tuple[int, int, int]] = []  # (item, first lane, lane count)
    for i, (item, n) in enumerate(zip(items, lens, strict=True)):
        view = memoryview(item).cast("B")
        if n < 4:
            out[i] = _crc32c_py(view)
            continue
        head = n % lane or lane
        if head < 4 and n > lane:
            head += lane
        owners.append((i, len(lanes), 1 + (n - head) // lane))
        lanes.append(view[:head])
        lane_lens.append(head)
        first.append(True)
        for k in range(head, n, lane):
            lanes.append(view[k : k + lane])
            lane_lens.append(lane)
            first.append(False)
    return out, lanes, lane_lens, first, owners


def crc32c(data: bytes | bytearray | memoryview) -> int:
    """The CRC32C of ``data`` as an unsigned 32-bit integer."""
    if _native is not None:
        return _native(data)
    if len(data) < _SHORT:
        return _crc32c_py(data)
    return _many_numpy([data], 256)[0]


def crc32c_many(items: Sequence[bytes | bytearray | memoryview]) -> list[int]:
    """The CRC32C of each item, computed together (much faster than one by one)."""
    if _native is not None:
        return [_native(x) for x in items]
    if len(items) == 1 and len(items[0]) < _SHORT:
        return [_crc32c_py(items[0])]
    return _many_numpy(items, _LANE)
