"""``mlpilot models|versions|show|compare|lineage|alias|archive`` against a seeded store."""

from __future__ import annotations

import json
from typing import Any

import pytest


def test_models_table_and_json(cli: Any, seeded: Any) -> None:
    text = cli.ok("models")
    assert "credit-risk" in text and "churn" in text
    assert "canary→2, production→1" in text
    data = json.loads(cli.ok("models", "--json"))
    by_name = {m["name"]: m for m in data}
    assert by_name["credit-risk"]["aliases"] == {"canary": 2, "production": 1}
    assert by_name["credit-risk"]["latest_version"] == 2
    assert by_name["churn"]["aliases"] == {}


def test_models_search(cli: Any, seeded: Any) -> None:
    assert [m["name"] for m in json.loads(cli.ok("models", "--search", "CRED", "--json"))] \
        == ["credit-risk"]
    assert "No models match" in cli.ok("models", "--search", "nothing-like-it")


def test_models_empty_home(cli: Any) -> None:
    assert "No models are registered yet" in cli.ok("models")
    assert json.loads(cli.ok("models", "--json")) == []


def test_versions(cli: Any, seeded: Any) -> None:
    text = cli.ok("versions", "credit-risk")
    assert "production" in text and "canary" in text
    assert "accuracy=0.75 auc=0.81" in text
    assert seeded.run1[:8] in text
    data = json.loads(cli.ok("versions", "credit-risk", "--json"))
    assert [v["version"] for v in data] == [1, 2]
    assert data[1]["signature"]["inputs"][2]["name"] == "zip"
    assert data[0]["aliases"] == ["production"]
    assert data[0]["status"] == "ready"


def test_unknown_model_is_a_clean_error(cli: Any, seeded: Any) -> None:
    err = cli.fails("versions", "nope")
    assert "Error: No model named 'nope'" in err
    assert "Known models: ['churn', 'credit-risk']" in err


def test_show_model(cli: Any, seeded: Any) -> None:
    text = cli.ok("show", "credit-risk")
    assert "Model credit-risk" in text
    assert "credit-risk-live" in text and "v1 90% primary, v2 10% canary" in text
    data = json.loads(cli.ok("show", "credit-risk", "--json"))
    assert data["kind"] == "model" and len(data["versions"]) == 2


def test_show_version_by_number_and_alias(cli: Any, seeded: Any) -> None:
    text = cli.ok("show", "credit-risk@canary")
    assert "Version credit-risk/2" in text
    assert "parent version  credit-risk/1" in text
    assert "zip" in text and "string" in text  # signature
    assert "max_depth" in text and "6" in text  # run params
    assert "Dataset credit-train" in text and "1,200 rows" in text
    data = json.loads(cli.ok("show", "credit-risk/1", "--json"))
    assert data["kind"] == "version"
    assert data["version"]["metrics"] == {"auc": 0.81, "accuracy": 0.75}
    assert data["run"]["params"] == {"lr": "0.1", "max_depth": "4"}
    assert data["dataset"] is None


def test_show_run_by_id_and_prefix(cli: Any, seeded: Any) -> None:
    text = cli.ok("show", seeded.run2)
    assert "Run deeper" in text and "max_depth" in text and "auc" in text
    data = json.loads(cli.ok("show", seeded.run1[:8], "--json"))
    assert data["kind"] == "run" and data["run"]["id"] == seeded.run1


def test_show_errors(cli: Any, seeded: Any) -> None:
    assert "neither a run id" in cli.fails("show", "f" * 32)
    assert "has no version 9; the latest is 2" in cli.fails("show", "credit-risk/9")
    assert "has no alias 'shadow'" in cli.fails("show", "credit-risk@shadow")
    assert "No model named 'ghost'" in cli.fails("show", "ghost")


def test_compare(cli: Any, seeded: Any) -> None:
    text = cli.ok("compare", "credit-risk", "1", "2")
    assert "+0.05" in text  # auc delta
    assert "max_depth" in text  # param diff
    assert "retyped" in text and "float → integer" in text
    assert "added" in text and "zip" in text
    data = json.loads(cli.ok("compare", "credit-risk", "1", "2", "--json"))
    assert data["metrics"]["auc"]["delta"] == pytest.approx(0.05)
    assert data["params"] == {"max_depth": {"a": "4", "b": "6"}}
    assert data["signature"]["added"] == ["zip"]


def test_lineage_tree_and_json(cli: Any, seeded: Any) -> None:
    text = cli.ok("lineage", "credit-risk/2")
    lines = text.splitlines()
    order = [next(i for i, line in enumerate(lines) if needle in line)
             for needle in ("dataset credit-train", "run deeper", "version credit-risk/2",
                            "deployment credit-risk-live", "derived from parent")]
    assert order == sorted(order)  # datasets → run → version → deployment, then the parent
    assert "10% canary" in text
    data = json.loads(cli.ok("lineage", "credit-risk", "--json"))  # bare name: production
    assert data["version"]["version"] == 1
    assert data["run"]["id"] == seeded.run1
    assert [d["name"] for d in data["deployments"]] == ["credit-risk-live"]


def test_lineage_bare_name_without_production(cli: Any, seeded: Any) -> None:
    assert "no 'production' alias" in cli.fails("lineage", "churn")


def test_alias_set_moves_and_records_reason(cli: Any, seeded: Any) -> None:
    text = cli.ok("alias", "set", "credit-risk", "production", "2", "--expect", "1",
              "--reason", "canary healthy [red]for a week[/]")
    assert "production" in text and "version 2 (was 1)" in text
    assert seeded.store.get_model("credit-risk").aliases["production"] == 2
    events = json.loads(cli.ok("events", "--action", "alias.set", "--limit", "1", "--json"))
    assert events[0]["reason"] == "canary healthy [red]for a week[/]"
    # user text is printed literally, never parsed as Rich markup
    assert "[red]for a week[/]" in cli.ok("events", "--action", "alias.set")


def test_alias_set_new_alias_with_expect_none(cli: Any, seeded: Any) -> None:
    assert "new alias" in cli.ok("alias", "set", "credit-risk", "shadow", "2",
                             "--expect", "none")
    assert seeded.store.get_model("credit-risk").aliases["shadow"] == 2


def test_alias_set_stale_expect_names_holder(cli: Any, seeded: Any) -> None:
    err = cli.fails("alias", "set", "credit-risk", "production", "2", "--expect", "2")
    assert "Error: Alias 'production' of model 'credit-risk' is held by version 1" in err
    assert seeded.store.get_model("credit-risk").aliases["production"] == 1


def test_alias_errors(cli: Any, seeded: Any) -> None:
    assert "An alias must be 1-63 lower-case letters" in cli.fails(
        "alias", "set", "credit-risk", "Prod", "2")
    assert "'latest' is reserved" in cli.fails("alias", "set", "credit-risk", "latest", "2")
    assert "--expect" in cli.fails("alias", "set", "credit-risk", "prod", "2",
                               "--expect", "two", code=2)
    cli.fails("alias", "set", "credit-risk", "prod", "two", code=2)


def test_alias_rm_and_archive(cli: Any, seeded: Any) -> None:
    assert "still holds alias(es) ['canary']" in cli.fails("archive", "credit-risk", "2")
    assert "Removed alias canary" in cli.ok("alias", "rm", "credit-risk", "canary")
    assert "no alias 'canary'" in cli.fails("alias", "rm", "credit-risk", "canary")
    assert "routed by deployment 'credit-risk-live'" in cli.fails(
        "archive", "credit-risk", "2")
    assert "Archived churn/1" in cli.ok("archive", "churn", "1", "--reason", "retired")
    assert seeded.store.get_version("churn", 1).status.value == "archived"
    assert "archived" in cli.ok("versions", "churn")
