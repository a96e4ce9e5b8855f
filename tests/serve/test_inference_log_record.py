"""InferenceRecord encoding and CRC32C."""

from __future__ import annotations

import importlib
import os
import random
from datetime import UTC, datetime, timedelta, timezone

import numpy as np
import pytest

from mlpilot.core.errors import InvalidArgument
from mlpilot.serve.inference_log import (
    REDACTED,
    InferenceRecord,
    crc32c,
    crc32c_many,
    decode_record,
    encode_record,
)

crc_module = importlib.import_module("mlpilot.serve.inference_log._crc32c")

T0 = datetime(2025, 3, 4, 5, 6, 7, 891011, tzinfo=UTC)


def test_round_trip_keeps_every_field() -> None:
    record = InferenceRecord(
        "req-1", T0, "credit", "credit-risk", 7,
        features={"age": 41, "income": 52000.5, "city": "Lyon", "tags": ["a", "b"],
                  "nested": {"x": 1}, "missing": None, "married": True},
        outputs={"prediction": 1, "proba": [0.25, 0.75]},
        latency_ms=3.25, status=200, error=None, route="canary",
    )
    assert decode_record(encode_record(record)) == record


def test_failed_request_round_trips() -> None:
    record = InferenceRecord("req-2", T0, "credit", "", None, features={"age": "forty"},
                             outputs={}, latency_ms=0.5, status=422, error="SchemaMismatch")
    back = decode_record(encode_record(record))
    assert back == record
    assert not back.ok


def test_time_is_normalised_to_utc_microseconds() -> None:
    naive = InferenceRecord("r", datetime(2025, 1, 1, 12), "d", "m", 1)
    assert naive.time.tzinfo is UTC
    paris = datetime(2025, 1, 1, 13, tzinfo=timezone(timedelta(hours=1)))
    back = decode_record(encode_record(InferenceRecord("r", paris, "d", "m", 1)))
    assert back.time == paris and back.time.tzinfo == UTC
    with pytest.raises(InvalidArgument, match="must be a datetime"):
        InferenceRecord("r", "2025-01-01", "d", "m", 1)  # type: ignore[arg-type]


def test_numpy_values_and_nan_are_encoded() -> None:
    record = InferenceRecord("r", T0, "d", "m", 1,
                             features={"a": np.int64(3), "b": np.float32(0.5),
                                       "c": np.array([1, 2]), "d": float("nan"),
                                       "e": np.array(["x", None], dtype=object)},
                             outputs={"p": np.array([0.5, np.inf])})
    back = decode_record(encode_record(record))
    assert back.features["a"] == 3 and back.features["b"] == 0.5
    assert back.features["c"] == [1, 2] and back.features["d"] is None  # strict JSON: null
    assert back.features["e"] == ["x", None] and back.outputs["p"] == [0.5, None]


def test_records_with_nan_literals_from_earlier_versions_decode() -> None:
    legacy = b'[1,"r",0,"d","m",1,"production",200,1.5,null,{"x":NaN},{"p":[Infinity]}]'
    back = decode_record(legacy)
    assert np.isnan(back.features["x"]) and back.outputs["p"] == [float("inf")]


def test_create_fills_id_and_time() -> None:
    a = InferenceRecord.create("d", "m", 1, features={"x": 1})
    b = InferenceRecord.create("d", "m", 1)
    assert a.request_id != b.request_id
    assert a.time.tzinfo is UTC


def test_redaction_replaces_values_before_encoding() -> None:
    record = InferenceRecord("r", T0, "d", "m", 1, features={"ssn": "123-45-6789", "age": 3})
    data = encode_record(record, frozenset({"ssn", "email"}))
    assert b"123-45-6789" not in data
    assert decode_record(data).features == {"ssn": REDACTED, "age": 3}
    assert record.features["ssn"] == "123-45-6789"  # the caller's record is untouched


def test_decode_rejects_unknown_layouts() -> None:
    with pytest.raises(ValueError, match="unknown layout"):
        decode_record(b"[99, 1, 2]")
    with pytest.raises(ValueError, match="not valid JSON"):
        decode_record(b"\xff\x00")


def test_crc32c_standard_vector() -> None:
    assert crc32c(b"123456789") == 0xE3069283
    assert crc_module._crc32c_py(b"123456789") == 0xE3069283
    assert crc_module._many_numpy([b"123456789"], 1024) == [0xE3069283]
    assert crc32c(b"") == 0


def test_crc32c_fast_paths_agree_with_the_table_driven_one() -> None:
    rng = random.Random(7)
    sizes = [0, 1, 3, 4, 5, 8, 63, 64, 65, 255, 256, 1023, 1024, 1025, 1026, 1027, 1028,
             2049, 5000]
    items = [os.urandom(rng.choice(sizes)) for _ in range(120)]
    expected = [crc_module._crc32c_py(x) for x in items]
    assert crc32c_many(items) == expected
    assert crc_module._many_numpy(items, 256) == expected
    big = os.urandom(300_000)
    assert crc32c(big) == crc_module._crc32c_py(big)
    assert crc32c(memoryview(big)[5:70_000]) == crc_module._crc32c_py(big[5:70_000])
