"""Registry operations on every backend: models, versions, aliases, events, lineage."""

from __future__ import annotations

import pytest

from mlpilot.core.entities import Route, VersionStatus
from mlpilot.core.errors import (
    AliasConflict,
    AlreadyExists,
    Conflict,
    InvalidArgument,
    NotFound,
)
from mlpilot.store import Store

DIGEST = "sha256:" + "ab" * 32


def _version(store: Store, model: str = "credit-risk", **kw: object) -> int:
    return store.create_version(model, format="sklearn", artifact_digest=DIGEST,
                                artifact_size=10, **kw).version  # type: ignore[arg-type]


def test_create_and_get_model(store: Store) -> None:
    m = store.create_model("credit-risk", description="PD model", tags={"team": "risk"})
    assert (m.name, m.description, m.tags, m.latest_version) == (
        "credit-risk", "PD model", {"team": "risk"}, None)
    with pytest.raises(AlreadyExists, match="already exists"):
        store.create_model("credit-risk")
    assert [x.name for x in store.list_models(search="CREDIT")] == ["credit-risk"]
    assert store.list_models(search="%") == []  # LIKE wildcards are escaped


@pytest.mark.parametrize("bad", ["", "../etc", "a/b", "a\\b", "a\x00b", "-x", "x" * 200, "a..b"])
def test_bad_model_names_are_refused(store: Store, bad: str) -> None:
    with pytest.raises(InvalidArgument, match="model name"):
        store.create_model(bad)


def test_unknown_model_names_known_ones(store: Store) -> None:
    store.create_model("fraud")
    with pytest.raises(NotFound, match=r"No model named 'credit'.*fraud"):
        store.get_model("credit")


def test_versions_number_up_and_write_events(store: Store) -> None:
    assert [_version(store) for _ in range(3)] == [1, 2, 3]
    assert store.get_model("credit-risk").latest_version == 3
    actions = [e.action for e in store.list_events(target_kind="version")]
    assert actions == ["version.create"] * 3
    assert all(e.actor == "tester" for e in store.list_events())
    assert store.list_events(action="model.create")[0].target == "credit-risk"
    with pytest.raises(NotFound, match="has no version 9; the latest is 3"):
        store.get_version("credit-risk", 9)


def test_resolve_references(store: Store) -> None:
    _version(store), _version(store)
    store.set_alias("credit-risk", "production", 1)
    assert store.resolve("credit-risk/2").version == 2
    assert store.resolve("credit-risk@production").version == 1
    assert store.resolve("credit-risk").version == 1
    assert store.resolve("credit-risk@latest").version == 2
    with pytest.raises(NotFound, match="no alias 'canary'"):
        store.resolve("credit-risk@canary")
    for bad in ["credit-risk/x", "credit-risk/../1", "", "a@b@c"]:
        with pytest.raises(InvalidArgument):
            store.resolve(bad)


def test_bare_name_without_production_is_ambiguous(store: Store) -> None:
    _version(store)
    with pytest.raises(InvalidArgument, match="no 'production' alias"):
        store.resolve("credit-risk")


def test_alias_compare_and_set(store: Store) -> None:
    for _ in range(3):
        _version(store)
    store.set_alias("credit-risk", "production", 1, expected=None)
    store.set_alias("credit-risk", "production", 2, expected=1)
    with pytest.raises(AliasConflict, match="held by version 2, not version 1"):
        store.set_alias("credit-risk", "production", 3, expected=1)
    assert store.get_model("credit-risk").aliases == {"production": 2}
    with pytest.raises(AliasConflict, match="held by version 2, not no version"):
        store.set_alias("credit-risk", "production", 3, expected=None)
    event = store.list_events(action="alias.set")[0]
    assert event.payload == {"alias": "production", "from": 1, "to": 2}
    assert store.get_version("credit-risk", 2).aliases == ("production",)


@pytest.mark.parametrize("alias", ["Production", "1", "latest", "a b", "../x", ""])
def test_bad_alias_names(store: Store, alias: str) -> None:
    _version(store)
    with pytest.raises(InvalidArgument, match="alias"):
        store.set_alias("credit-risk", alias, 1)


def test_delete_alias(store: Store) -> None:
    _version(store)
    store.set_alias("credit-risk", "canary", 1)
    with pytest.raises(AliasConflict):
        store.delete_alias("credit-risk", "canary", expected=5)
    store.delete_alias("credit-risk", "canary")
    assert store.get_model("credit-risk").aliases == {}
    with pytest.raises(NotFound):
        store.delete_alias("credit-risk", "canary")


def test_archive_refuses_held_versions(store: Store) -> None:
    _version(store), _version(store)
    store.set_alias("credit-risk", "production", 1)
    with pytest.raises(Conflict, match="holds alias"):
        store.archive_version("credit-risk", 1)
    archived = store.archive_version("credit-risk", 2, reason="superseded")
    assert archived.status is VersionStatus.ARCHIVED
    with pytest.raises(Conflict, match="archived"):
        store.set_alias("credit-risk", "canary", 2)
    assert store.list_events(action="version.archive")[0].reason == "superseded"


def test_version_links_run_and_dataset(store: Store) -> None:
    run = store.create_run("train", model="credit-risk")
    ds = store.register_dataset("credit-train", digest=DIGEST, num_rows=10, num_columns=2,
                                schema={"columns": []}, profile={})
    store.link_dataset(ds.id, run.id)
    v1 = _version(store, run_id=run.id, dataset_id=ds.id)
    v2 = _version(store, parent_version=v1)
    store.put_deployment("credit-api", model="credit-risk", strategy="single",
                         routes=[Route(version=v1, weight=1.0)])
    lin = store.lineage("credit-risk", v1)
    assert lin.run is not None and lin.run.id == run.id
    assert [d.id for d in lin.datasets] == [ds.id]
    assert [d.name for d in lin.deployments] == ["credit-api"]
    relations = {(e.source_kind, e.relation, e.target_kind) for e in lin.edges}
    assert {("dataset", "training", "run"), ("run", "produced", "version"),
            ("dataset", "trained", "version"), ("version", "deployed", "deployment")} <= relations
    assert store.lineage("credit-risk", v2).parent.version == v1  # type: ignore[union-attr]
    with pytest.raises(NotFound, match="No run"):
        _version(store, run_id="f" * 32)


def test_dataset_registration_is_idempotent(store: Store) -> None:
    a = store.register_dataset("d", digest=DIGEST, num_rows=1, num_columns=1,
                               schema={}, profile={})
    b = store.register_dataset("d", digest=DIGEST, num_rows=1, num_columns=1,
                               schema={}, profile={})
    assert a.id == b.id
    assert len(store.list_events(action="dataset.register")) == 1


def test_deployment_revisions(store: Store) -> None:
    _version(store), _version(store)
    d = store.put_deployment("api", model="credit-risk", strategy="canary",
                             routes=[Route(1, 0.95), Route(2, 0.05, "canary")])
    assert d.revision == 1 and d.routes[1].role == "canary"
    store.put_deployment("api", model="credit-risk", strategy="single", routes=[Route(2, 1.0)],
                         expected_revision=1)
    with pytest.raises(Conflict, match="revision 2, not 1"):
        store.put_deployment("api", model="credit-risk", strategy="single",
                             routes=[Route(1, 1.0)], expected_revision=1)
    with pytest.raises(InvalidArgument, match="sum to 1"):
        store.put_deployment("api", model="credit-risk", strategy="single",
                             routes=[Route(1, 0.5)])
    with pytest.raises(InvalidArgument, match="Available"):
        store.put_deployment("api", model="credit-risk", strategy="yolo",
                             routes=[Route(1, 1.0)])


def test_tokens(store: Store) -> None:
    token, secret = store.create_token("ci-bot", "editor")
    assert store.verify_token(secret).name == "ci-bot"
    store.revoke_token(token.id)
    from mlpilot.core.errors import Unauthenticated

    with pytest.raises(Unauthenticated):
        store.verify_token(secret)
    with pytest.raises(Unauthenticated):
        store.verify_token("mlp_nope")
    with pytest.raises(InvalidArgument, match="role"):
        store.create_token("x", "root")


def test_with_actor_attributes_events(store: Store) -> None:
    store.with_actor("alice").create_model("m")
    assert store.list_events(action="model.create")[0].actor == "alice"


def test_decisions_keep_evidence_and_outcome(store: Store) -> None:
    d = store.record_decision("rollback", "deployment", "credit-api",
                              reason="canary error rate 4.1% vs 0.5% (p=0.001)",
                              evidence={"p_value": 0.001, "nan": float("nan")})
    assert d.outcome == "pending" and d.evidence == {"p_value": 0.001, "nan": None}
    done = store.set_decision_outcome(d.id, "applied", {"revision": 3})
    assert (done.outcome, done.outcome_detail) == ("applied", {"revision": 3})
    assert [x.id for x in store.list_decisions(target="credit-api")] == [d.id]
    actions = [e.action for e in store.list_events(target="credit-api")]
    assert actions == ["decision.outcome", "decision.rollback"]
    with pytest.raises(NotFound):
        store.set_decision_outcome(999, "applied")
