"""``mlpilot rollout``: tick dispatches on the strategy; blue-green switch and switch-back."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def test_blue_green_switch_back_and_switch(cli: Any, seeded: Any) -> None:
    cli.ok("deploy", "credit-risk", "--version", "2", "--strategy", "blue-green",
           "--name", "bg")
    assert [(r.version, r.weight) for r in seeded.store.get_deployment("bg").routes] == \
        [(2, 1.0), (1, 0.0)]
    stdout = cli.ok("rollout", "switch-back", "bg", "--reason", "p99 latency up")
    assert "bg: switch_back [applied] — switch traffic back from v2 to v1: p99 latency up" \
        in stdout
    assert "routes: v1 100%, v2 0%" in stdout
    err = cli.fails("rollout", "switch-back", "bg")
    assert "no switch to undo" in err and "mlpilot rollout switch bg" in err
    data = json.loads(cli.ok("rollout", "switch", "bg", "--json"))
    assert data["decision"]["action"] == "switch" and data["decision"]["outcome"] == "applied"
    assert data["deployment"]["params"]["active"] == 2
    assert [d.action for d in seeded.store.list_decisions(target="bg")] == ["switch",
                                                                            "switch_back"]
    assert "nothing to tick — blue-green switches by hand" in cli.ok("rollout", "tick", "bg")
    assert "need a blue-green deployment" in cli.fails("rollout", "switch",
                                                       "credit-risk-live")


def test_tick_dispatches_on_the_strategy(cli: Any, seeded: Any, tmp_path: Path) -> None:
    log = str(tmp_path / "log")
    cli.ok("deploy", "credit-risk", "--version", "2", "--strategy", "bandit", "--name", "b")
    stdout = cli.ok("rollout", "tick", "b", "--log-dir", log)
    assert "b: hold [applied] — first tick: new bandit" in stdout
    assert "posterior mean" in stdout and "gate:" in stdout
    data = json.loads(cli.ok("rollout", "tick", "b", "--log-dir", log, "--json"))
    assert data["decision"]["evidence"]["gate"] == "no_new_rewards"
    assert data["recorded"]["action"] == "hold"

    cli.ok("deploy", "credit-risk", "--version", "2", "--strategy", "ab", "--name", "ab")
    stdout = cli.ok("rollout", "watch", "ab", "--log-dir", log, "--every", "0",
                    "--max-ticks", "2")
    assert stdout.count("ab: hold") == 2 and "not enough labelled requests" in stdout
    assert "insufficient" in stdout and "significant: no" in stdout

    cli.ok("deploy", "credit-risk", "--version", "2", "--strategy", "shadow", "--name", "s")
    assert "s: nothing to tick — the 'shadow' strategy has no rollout engine." in \
        cli.ok("rollout", "tick", "s")
    stdout = cli.ok("rollout", "tick", "credit-risk-live", "--log-dir", log)  # canary
    assert "credit-risk-live: hold [applied]" in stdout and "minimum" in stdout
    assert "No deployment named 'nope'" in cli.fails("rollout", "tick", "nope")
