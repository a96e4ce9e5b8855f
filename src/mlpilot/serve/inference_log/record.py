"""One answered prediction, and its compact encoding.

A record encodes as one UTF-8 JSON array whose first element is the encoding
version, so a reader can tell old layouts from new ones::

    [1, request_id, time_us, deployment, model, version, route,
     status, latency_ms, error, features, outputs]

Positional JSON is both compact and fast (orjson does all the work). Non-JSON
values in features and outputs (numpy scalars and arrays, datetimes, bytes) are
converted on the way in. NaN and infinities are written as ``null`` (strict
JSON: a missing value stays missing); records written by earlier versions with
``NaN`` literals still decode.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import orjson

from mlpilot.core.clock import utcnow
from mlpilot.core.errors import InvalidArgument

__all__ = ["InferenceRecord", "encode_record", "decode_record", "REDACTED"]

ENCODING_VERSION = 1
REDACTED = "[REDACTED]"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)


@dataclass(frozen=True, slots=True)
class InferenceRecord:
    """What the gateway answered for one request (or why it failed).

    Treat ``features`` and ``outputs`` as read-only: the log encodes them later,
    on its writer thread.

    Attributes:
        request_id: Unique id of the request (feedback joins on it).
        time: When the request arrived, timezone-aware UTC (naive means UTC).
        deployment: Endpoint (deployment) name.
        model: Model name ("" when the request failed before routing).
        version: Model version number (None when the request failed before routing).
        features: The inputs, a JSON-like mapping of feature name to value.
        outputs: The answer, a JSON-like mapping ({} for failed requests).
        latency_ms: Time spent answering, in milliseconds.
        status: HTTP status answered.
        error: Exception class name for failed requests, else None.
        route: The role that answered: "production", "canary", "shadow", ...
    """

    request_id: str
    time: datetime
    deployment: str
    model: str
    version: int | None
    features: Mapping[str, Any] = field(default_factory=dict)
    outputs: Mapping[str, Any] = field(default_factory=dict)
    latency_ms: float = 0.0
    status: int = 200
    error: str | None = None
    route: str = "production"

    def __post_init__(self) -> None:
        if not isinstance(self.time, datetime):
            raise InvalidArgument(
                f"InferenceRecord.time must be a datetime. Got {type(self.time).__name__}.",
                field="time",
            )
        if self.time.tzinfo is None:
            object.__setattr__(self, "time", self.time.replace(tzinfo=UTC))

    @classmethod
    def create(cls, deployment: str, model: str, version: int | None, **fields: Any
               ) -> InferenceRecord:
        """A record stamped now, with a fresh random request id unless one is given."""
        fields.setdefault("request_id", uuid.uuid4().hex)
        fields.setdefault("time", utcnow())
        return cls(deployment=deployment, model=model, version=version, **fields)

    @property
    def ok(self) -> bool:
        """True when the request succeeded (status below 400)."""
        return self.status < 400

    @property
    def time_us(self) -> int:
        """``time`` as integer microseconds since the Unix epoch."""
        return (self.time - _EPOCH) // _US


def _default(value: Any) -> Any:
    """JSON fallback for values the encoder does not know."""
    if hasattr(value, "tolist"):  # object arrays, pandas values
        return value.tolist()
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bytes | bytearray):
        return value.decode("utf-8", "replace")
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    return str(value)


_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS


def encode_record(record: InferenceRecord, redact: frozenset[str] = frozenset()) -> bytes:
    """The record's bytes; features named in ``redact`` are replaced by :data:`REDACTED`.

    Raises:
        TypeError, ValueError: when a value cannot be encoded (e.g. a cycle).
    """
    features = record.features
    if redact and not redact.isdisjoint(features):
        features = {k: (REDACTED if k in redact else v) for k, v in features.items()}
    return orjson.dumps([
        ENCODING_VERSION, record.request_id, record.time_us, record.deployment,
        record.model, record.version, record.route, record.status, record.latency_ms,
        record.error, features, record.outputs,
    ], default=_default, option=_OPTIONS)


def loads(data: bytes | memoryview | str) -> Any:
    """Parse stored JSON fast (orjson), accepting the NaN/Infinity literals of old logs.

    Raises:
        ValueError: not JSON at all (``json.JSONDecodeError`` is a ValueError).
    """
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return json.loads(bytes(data) if isinstance(data, memoryview) else data)


def dumps_text(value: Any) -> str:
    """``value`` as compact JSON text (NaN and infinities become null)."""
    return orjson.dumps(value, default=_default, option=_OPTIONS).decode()


def decode_record(data: bytes | memoryview) -> InferenceRecord:
    """The record encoded in ``data``.

    Raises:
        ValueError: when the bytes are not a record of a known encoding version.
    """
    try:
        row = loads(data)  # earlier versions wrote NaN/Infinity literals: still read
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"Inference record bytes are not valid JSON: {e}.") from e
    if not isinstance(row, list) or not row or row[0] != ENCODING_VERSION or len(row) != 12:
        raise ValueError(
            f"Inference record has an unknown layout (expected version {ENCODING_VERSION} "
            f"with 12 fields). Got {str(row)[:80]!r}."
        )
    return record_from_fields(*row[1:])


def record_from_fields(request_id: str, time_us: int, deployment: str, model: str,
                       version: int | None, route: str, status: int, latency_ms: float,
                       error: str | None, features: Mapping[str, Any],
                       outputs: Mapping[str, Any]) -> InferenceRecord:
    """Build a record from stored field values (time as epoch microseconds)."""
    return InferenceRecord(
        request_id=request_id, time=_EPOCH + timedelta(microseconds=time_us),
        deployment=deployment, model=model, version=version, features=features,
        outputs=outputs, latency_ms=latency_ms, status=status, error=error, route=route,
    )
