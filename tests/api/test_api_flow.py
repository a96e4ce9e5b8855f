"""The main flow end to end over HTTP, on SQLite and PostgreSQL, with auth on."""

from __future__ import annotations

from typing import Any

from mlpilot.api import API_PREFIX as API
from mlpilot.sdk._context import Context


def test_full_flow(any_ctx: Context, make_any_client: Any) -> None:
    _, admin_secret = any_ctx.store.create_token("root", "admin")
    admin = make_any_client(auth=True, token=admin_secret)
    created = admin.post(f"{API}/tokens", json={"name": "alice", "role": "editor"})
    assert created.status_code == 201, created.text
    assert created.json()["role"] == "editor" and created.json()["secret"].startswith("mlp_")
    alice = make_any_client(auth=True, token=created.json()["secret"])

    # model + artifact + runs
    assert alice.post(f"{API}/models", json={"name": "credit-risk", "tags": {"team": "risk"}}
                      ).status_code == 201
    assert alice.post(f"{API}/models", json={"name": "credit-risk"}).status_code == 409
    patched = alice.patch(f"{API}/models/credit-risk", json={"description": "PD model"})
    assert patched.json()["description"] == "PD model"
    blob = b"model-bytes" * 100
    uploaded = alice.post(f"{API}/artifacts", content=blob,
                          headers={"Content-Type": "application/octet-stream"}).json()
    assert uploaded["size"] == len(blob) and uploaded["digest"].startswith("sha256:")

    run_ids = []
    for depth, auc in ((3, 0.81), (6, 0.86)):
        run = alice.post(f"{API}/runs", json={"name": f"d{depth}", "model": "credit-risk"})
        assert run.status_code == 201
        run_id = run.json()["id"]
        logged = alice.post(f"{API}/runs/{run_id}/log-batch", json={
            "params": {"max_depth": depth, "lr": 0.1},
            "metrics": [{"key": "auc", "value": auc - 0.05, "step": 0},
                        {"key": "auc", "value": auc, "step": 1, "timestamp_ms": 1_700_000_000}],
            "tags": {"stage": "dev"},
        })
        assert logged.status_code == 204, logged.text
        assert alice.post(f"{API}/runs/{run_id}/end", json={"status": "finished"}
                          ).json()["status"] == "finished"
        run_ids.append(run_id)

    found = alice.get(f"{API}/runs", params={"filter": "metrics.auc > 0.85 and params.max_depth"
                                                       " = '6'", "model": "credit-risk"}).json()
    assert [r["id"] for r in found] == [run_ids[1]]
    ordered = alice.get(f"{API}/runs", params={"order_by": "metrics.auc DESC"}).json()
    assert [r["id"] for r in ordered] == run_ids[::-1]
    history = alice.get(f"{API}/runs/{run_ids[0]}/metrics/auc").json()
    assert [(p["step"], p["value"]) for p in history] == [(0, 0.76), (1, 0.81)]
    assert alice.get(f"{API}/runs/{run_ids[0]}").json()["params"] == {"lr": "0.1",
                                                                      "max_depth": "3"}

    # versions, alias, resolve, compare, lineage
    v1 = alice.post(f"{API}/models/credit-risk/versions", json={
        "format": "sklearn", "artifact_digest": uploaded["digest"], "run_id": run_ids[0],
        "metrics": {"auc": 0.81}, "signature": {"inputs": [{"name": "x", "dtype": "float64"}]},
    })
    assert v1.status_code == 201, v1.text
    assert v1.json()["artifact_size"] == len(blob) and v1.json()["ref"] == "credit-risk/1"
    v2 = alice.post(f"{API}/models/credit-risk/versions", json={
        "format": "sklearn", "artifact_digest": uploaded["digest"], "run_id": run_ids[1],
        "parent_version": 1, "metrics": {"auc": 0.86},
        "signature": {"inputs": [{"name": "x", "dtype": "int64"}, {"name": "y",
                                                                     "dtype": "float64"}]},
    }).json()
    assert v2["version"] == 2
    moved = alice.put(f"{API}/models/credit-risk/aliases/production",
                      json={"version": 2, "expected": None, "reason": "better auc"})
    assert moved.status_code == 200, moved.text
    assert moved.json()["aliases"] == ["production"]
    resolved = alice.get(f"{API}/resolve", params={"ref": "credit-risk@production"}).json()
    assert resolved["version"] == 2
    cmp = alice.get(f"{API}/models/credit-risk/compare", params={"a": 1, "b": 2}).json()
    assert abs(cmp["metrics"]["auc"]["delta"] - 0.05) < 1e-9
    assert cmp["params"]["max_depth"] == {"a": "3", "b": "6"}
    assert cmp["signature"] == {"added": ["y"], "removed": [],
                                "retyped": {"x": {"a": "float64", "b": "int64"}}}
    lineage = alice.get(f"{API}/models/credit-risk/versions/2/lineage").json()
    assert lineage["run"]["id"] == run_ids[1] and lineage["parent"]["version"] == 1
    assert {e["relation"] for e in lineage["edges"]} >= {"produced", "derived"}
    assert [v["version"] for v in alice.get(f"{API}/models/credit-risk/versions").json()
            ] == [1, 2]
    assert alice.get(f"{API}/models", params={"search": "CREDIT"}).json()[0]["aliases"] == {
        "production": 2}
    assert alice.get(f"{API}/artifacts/{uploaded['digest']}").content == blob

    # deployments
    dep = alice.put(f"{API}/deployments/credit-api", json={
        "model": "credit-risk", "strategy": "canary",
        "routes": [{"version": 2, "weight": 0.9}, {"version": 1, "weight": 0.1,
                                                   "role": "canary"}],
        "expected_revision": 0,
    })
    assert dep.status_code == 200, dep.text
    assert dep.json()["revision"] == 1
    stale = alice.put(f"{API}/deployments/credit-api", json={
        "model": "credit-risk", "strategy": "single", "routes": [{"version": 2, "weight": 1}],
        "expected_revision": 7})
    assert stale.status_code == 409 and "revision 1" in stale.json()["message"]
    assert [d["name"] for d in alice.get(f"{API}/deployments",
                                         params={"model": "credit-risk"}).json()] == ["credit-api"]

    # the audit log names the token
    events = admin.get(f"{API}/events", params={"target": "credit-risk",
                                                "action": "alias.set"}).json()
    assert [(e["actor"], e["reason"]) for e in events] == [("alice", "better auc")]
    mine = admin.get(f"{API}/events", params={"actor": "alice", "limit": 1000}).json()
    assert {"model.create", "version.create", "run.log", "deployment.put"} <= {
        e["action"] for e in mine}
    assert admin.get(f"{API}/events", params={"action": "token.create"}).json()[0][
        "actor"] == "root"
