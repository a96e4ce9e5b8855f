"""Ground-truth labels for answered requests, kept in a second inference-log stream.

A feedback item is stored as an :class:`InferenceRecord` with ``route="feedback"``:
``request_id`` is the request being labelled, ``time`` when the gateway received
the label, ``outputs={"label": ..., "time": <client's time or None>}``. Sending
feedback twice is harmless: readers keep **the latest label per request id**
(by arrival), see :func:`read_feedback`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from mlpilot.core.clock import utcnow
from mlpilot.serve.gateway.errors import InvalidInput, PayloadTooLarge
from mlpilot.serve.inference_log import InferenceRecord, read_records

FEEDBACK_DIR = "feedback"
FEEDBACK_ROUTE = "feedback"
REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,128}$")
_ITEM_KEYS = {"request_id", "label", "labels", "time"}
_SCALAR = (str, int, float, bool)
MAX_ROW_LABELS = 10_000


@dataclass(frozen=True)
class Feedback:
    """The ground truth of one request: one label, or one per row of a batch request."""

    request_id: str
    label: Any  # a scalar, or a list (per row; None where unknown)
    time: datetime | None
    received: datetime


def feedback_dir(log_directory: str | os.PathLike[str]) -> Path:
    """Where the feedback stream of an inference log lives."""
    return Path(log_directory) / FEEDBACK_DIR


def _item(raw: Any, i: int) -> Feedback:
    if not isinstance(raw, dict):
        raise InvalidInput(f"items[{i}] must be an object.", item=i)
    unknown = sorted(set(raw) - _ITEM_KEYS)
    if unknown:
        raise InvalidInput(f"items[{i}] has unknown keys {unknown}; allowed: "
                           f"{sorted(_ITEM_KEYS)}.", item=i)
    rid = raw.get("request_id")
    if not isinstance(rid, str) or not REQUEST_ID.match(rid):
        raise InvalidInput(f"items[{i}].request_id must be 1-128 characters of letters, "
                           f"digits, '.', '_' or '-'. Got {str(rid)[:40]!r}.", item=i)
    if ("label" in raw) == ("labels" in raw):
        raise InvalidInput(f"items[{i}] needs exactly one of 'label' (the request's label) "
                           "or 'labels' (one per row of a batch request).", item=i)
    if "label" in raw and not isinstance(raw["label"], _SCALAR):
        raise InvalidInput(f"items[{i}].label must be a JSON number, string or boolean.",
                           item=i)
    labels = raw.get("labels")
    if "labels" in raw and (
            not isinstance(labels, list) or not 0 < len(labels) <= MAX_ROW_LABELS
            or not all(v is None or isinstance(v, _SCALAR) for v in labels)
            or all(v is None for v in labels)):
        raise InvalidInput(f"items[{i}].labels must be a list of 1-{MAX_ROW_LABELS} numbers, "
                           "strings or booleans (null for rows without a label), in the "
                           "order of the request's rows.", item=i)
    when = raw.get("time")
    parsed: datetime | None = None
    if when is not None:
        try:
            parsed = datetime.fromisoformat(when) if isinstance(when, str) else None
        except ValueError:
            parsed = None
        if parsed is None:
            raise InvalidInput(f"items[{i}].time must be an ISO 8601 timestamp. Got "
                               f"{str(when)[:40]!r}.", item=i)
    return Feedback(rid, raw["label"] if "label" in raw else labels, parsed, utcnow())


def parse_feedback(payload: Any, max_items: int) -> list[Feedback]:
    """Validate ``{"items": [...]}`` or a single item; all or nothing.

    Raises:
        InvalidInput: a malformed item (the message gives its index).
        PayloadTooLarge: more than ``max_items`` items.
    """
    if isinstance(payload, dict) and "items" in payload:
        if set(payload) != {"items"} or not isinstance(payload["items"], list):
            raise InvalidInput("The feedback body is {'items': [...]} or one item "
                               "{'request_id', 'label' | 'labels', 'time'?}.")
        raw = payload["items"]
    else:
        raw = [payload]
    if not raw:
        raise InvalidInput("The feedback body has no items.")
    if len(raw) > max_items:
        raise PayloadTooLarge(f"The feedback body has {len(raw)} items; the limit is "
                              f"{max_items}. Split it.", items=len(raw), limit=max_items)
    return [_item(r, i) for i, r in enumerate(raw)]


def to_record(item: Feedback) -> InferenceRecord:
    """The log record of a feedback item."""
    when = item.time.isoformat() if item.time is not None else None
    return InferenceRecord(request_id=item.request_id, time=item.received, deployment="",
                           model="", version=None, outputs={"label": item.label, "time": when},
                           route=FEEDBACK_ROUTE, status=202)


def from_record(record: InferenceRecord) -> Feedback:
    """The feedback item a log record holds."""
    outputs: Mapping[str, Any] = record.outputs
    when = outputs.get("time")
    return Feedback(record.request_id, outputs.get("label"),
                    datetime.fromisoformat(when) if when else None, record.time)


def read_feedback(directory: str | os.PathLike[str]) -> dict[str, Feedback]:
    """The latest label per request id in a feedback stream (duplicates collapse)."""
    records = sorted((r for r in read_records(directory) if r.route == FEEDBACK_ROUTE),
                     key=lambda r: r.time_us)
    return {r.request_id: from_record(r) for r in records}
