"""``mlpilot runs|datasets|events``: listings with filters and JSON output."""

from __future__ import annotations

import json
from typing import Any


def test_runs_table(cli: Any, seeded: Any) -> None:
    text = cli.ok("runs")
    assert seeded.run1[:8] in text and seeded.run2[:8] in text
    assert "baseline" in text and "deeper" in text and "finished" in text
    assert "Runs of credit-risk" in text  # one model: named once in the title
    assert "auc" in text and "max_depth" in text  # key metric and param columns
    assert "0.86" in text and "0.81" in text


def test_runs_json_filter_and_order(cli: Any, seeded: Any) -> None:
    data = json.loads(cli.ok("runs", "--json"))
    assert {r["id"] for r in data} == {seeded.run1, seeded.run2}
    assert data[0]["params"]["max_depth"] in ("4", "6")
    best = json.loads(cli.ok("runs", "--filter", "metrics.auc > 0.85", "--json"))
    assert [r["name"] for r in best] == ["deeper"]
    ordered = json.loads(cli.ok("runs", "--model", "credit-risk", "--order-by",
                                "metrics.auc ASC", "--json"))
    assert [r["name"] for r in ordered] == ["baseline", "deeper"]
    assert len(json.loads(cli.ok("runs", "--max", "1", "--json"))) == 1
    assert json.loads(cli.ok("runs", "--model", "churn", "--json")) == []


def test_runs_empty_and_bad_filter(cli: Any, seeded: Any) -> None:
    assert "No runs match" in cli.ok("runs", "--filter", "params.max_depth = '99'")
    assert "Error: Cannot parse the run filter" in cli.fails("runs", "--filter", "auc ~ 1")
    assert "Cannot order runs by" in cli.fails("runs", "--order-by", "bogus")
    cli.fails("runs", "--max", "0", code=2)


def test_datasets(cli: Any, seeded: Any) -> None:
    text = cli.ok("datasets")
    assert "credit-train" in text and "1,200" in text and seeded.dataset in text
    data = json.loads(cli.ok("datasets", "--name", "credit-train", "--json"))
    assert [d["id"] for d in data] == [seeded.dataset]
    assert "No dataset snapshots named 'other'" in cli.ok("datasets", "--name", "other")


def test_events(cli: Any, seeded: Any) -> None:
    text = cli.ok("events", "--target", "credit-risk")
    assert "alias.set" in text and "first release" in text and "tester" in text
    data = json.loads(cli.ok("events", "--action", "alias.set", "--json"))
    assert [e["payload"]["alias"] for e in data] == ["canary", "production"]  # newest first
    assert len(json.loads(cli.ok("events", "--limit", "3", "--json"))) == 3
    assert "No events match" in cli.ok("events", "--action", "nothing.happened")
