"""Side-by-side comparison of two model versions."""

from __future__ import annotations

from typing import Any

from mlpilot.store import Store


def _diff(a: dict[str, Any], b: dict[str, Any]) -> dict[str, dict[str, Any]]:
    keys = sorted(set(a) | set(b))
    return {k: {"a": a.get(k), "b": b.get(k)} for k in keys if a.get(k) != b.get(k)}


def compare_versions(store: Store, model: str, a: int, b: int) -> dict[str, Any]:
    """What differs between ``model/a`` and ``model/b``.

    Returns a JSON-able dict: version metrics (with b - a deltas), run params and
    metrics that differ, signature changes (added/removed/retyped inputs), and
    the artifact, format and dataset of each side.

    Raises:
        NotFound: if the model or either version does not exist.
    """
    va, vb = store.get_version(model, a), store.get_version(model, b)
    ra = store.get_run(va.run_id) if va.run_id else None
    rb = store.get_run(vb.run_id) if vb.run_id else None
    metrics = {}
    for key in sorted(set(va.metrics) | set(vb.metrics)):
        x, y = va.metrics.get(key), vb.metrics.get(key)
        metrics[key] = {"a": x, "b": y, "delta": (y - x) if x is not None and y is not None
                        else None}
    inputs_a = {c["name"]: c["dtype"] for c in (va.signature or {}).get("inputs", [])}
    inputs_b = {c["name"]: c["dtype"] for c in (vb.signature or {}).get("inputs", [])}
    return {
        "model": model,
        "a": {"version": a, "format": va.format, "digest": va.artifact_digest,
              "dataset_id": va.dataset_id, "run_id": va.run_id, "aliases": list(va.aliases)},
        "b": {"version": b, "format": vb.format, "digest": vb.artifact_digest,
              "dataset_id": vb.dataset_id, "run_id": vb.run_id, "aliases": list(vb.aliases)},
        "metrics": metrics,
        "params": _diff(ra.params if ra else {}, rb.params if rb else {}),
        "run_metrics": _diff(ra.metrics if ra else {}, rb.metrics if rb else {}),
        "signature": {
            "added": sorted(set(inputs_b) - set(inputs_a)),
            "removed": sorted(set(inputs_a) - set(inputs_b)),
            "retyped": {k: {"a": inputs_a[k], "b": inputs_b[k]}
                        for k in sorted(set(inputs_a) & set(inputs_b))
                        if inputs_a[k] != inputs_b[k]},
        },
        "same_artifact": va.artifact_digest == vb.artifact_digest,
    }
