"""The leader lock: one autopilot acts at a time, on SQLite and PostgreSQL."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mlpilot.cli.main import app
from mlpilot.pilot.leader import LeaderBusy, LeaderLock
from mlpilot.store import Store

HOLD = """
import sys, time
from mlpilot.store import Store
from mlpilot.pilot.leader import LeaderLock
lock = LeaderLock(Store.open(sys.argv[1]))
assert lock.acquire()
print("held", flush=True)
time.sleep(120)
"""


def test_one_leader_at_a_time(store: Store) -> None:
    first, second = LeaderLock(store), LeaderLock(store)
    assert first.acquire() and first.still_held()
    assert not second.acquire()
    with pytest.raises(LeaderBusy, match="Another autopilot"):
        with LeaderLock(store):
            pass
    assert LeaderLock(store, name="other").acquire()  # another name, another lock
    first.release()
    first.release()  # idempotent
    assert second.acquire()
    second.release()


def test_a_dead_leader_frees_the_lock(store_url: str, store: Store) -> None:
    proc = subprocess.Popen([sys.executable, "-c", HOLD, store_url], stdout=subprocess.PIPE,
                            text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
        assert not LeaderLock(store).acquire()
    finally:
        proc.kill()
        proc.wait()
    lock = LeaderLock(store)
    for _ in range(50):  # PostgreSQL notices the dead session within moments
        if lock.acquire():
            break
        time.sleep(0.1)
    assert lock.held
    lock.release()


def test_cli_once_refuses_while_another_leads(store_url: str, store: Store, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLPILOT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("MLPILOT_STORE_URL", store_url)
    (tmp_path / "p.yaml").write_text("autopilot: {models: {}}\n")
    args = ["autopilot", "--once", "--policy", str(tmp_path / "p.yaml")]
    with LeaderLock(store):
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 1 and "Another autopilot" in result.output
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
