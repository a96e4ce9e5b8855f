"""Two processes registering versions and moving one alias at once, on every backend.

No lost update, no duplicate version numbers, exactly one winner per alias race,
and never a raw "database is locked".
"""

from __future__ import annotations

import multiprocessing as mp
from typing import Any

from mlpilot.core.errors import AliasConflict
from mlpilot.store import Store

DIGEST = "sha256:" + "cd" * 32
ROUNDS = 15
VERSIONS_EACH = 15


def _register_worker(url: str, barrier: Any, out: Any) -> None:
    store = Store.open(url, actor="worker")
    barrier.wait()
    numbers = [store.create_version("race", format="sklearn", artifact_digest=DIGEST,
                                    artifact_size=1).version for _ in range(VERSIONS_EACH)]
    out.put(numbers)


def _alias_worker(url: str, me: int, barrier: Any, out: Any) -> None:
    store = Store.open(url, actor=f"worker-{me}")
    results = []
    for round_ in range(ROUNDS):
        holder = store.get_model("race").aliases.get("production")
        barrier.wait()  # both have read the same holder
        target = 1 + (round_ * 2 + me) % 4
        try:
            store.set_alias("race", "production", target, expected=holder)
            results.append(("won", round_, target))
        except AliasConflict as exc:
            results.append(("lost", round_, exc.details["holder"]))
        barrier.wait()  # the round is over for both
    out.put((me, results))


def test_concurrent_registration(store_url: str) -> None:
    Store.open(store_url).close()  # migrate once, up front
    ctx = mp.get_context("spawn")
    barrier, out = ctx.Barrier(2), ctx.Queue()
    procs = [ctx.Process(target=_register_worker, args=(store_url, barrier, out))
             for _ in range(2)]
    for p in procs:
        p.start()
    numbers = out.get(timeout=120) + out.get(timeout=120)
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    assert sorted(numbers) == list(range(1, 2 * VERSIONS_EACH + 1))
    store = Store.open(store_url)
    assert store.get_model("race").latest_version == 2 * VERSIONS_EACH
    assert len(store.list_events(action="version.create", limit=1000)) == 2 * VERSIONS_EACH


def test_concurrent_alias_moves_have_one_winner(store_url: str) -> None:
    store = Store.open(store_url)
    for _ in range(4):
        store.create_version("race", format="sklearn", artifact_digest=DIGEST, artifact_size=1)
    ctx = mp.get_context("spawn")
    barrier, out = ctx.Barrier(2), ctx.Queue()
    procs = [ctx.Process(target=_alias_worker, args=(store_url, me, barrier, out))
             for me in range(2)]
    for p in procs:
        p.start()
    results = dict([out.get(timeout=180), out.get(timeout=180)])
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    final_holder = None
    for round_ in range(ROUNDS):
        outcomes = [results[me][round_] for me in range(2)]
        winners = [o for o in outcomes if o[0] == "won"]
        losers = [o for o in outcomes if o[0] == "lost"]
        assert len(winners) == 1 and len(losers) == 1, outcomes
        # the loser was told who holds the alias now: the winner's version
        assert losers[0][2] == winners[0][2]
        final_holder = winners[0][2]
    assert store.get_model("race").aliases["production"] == final_holder
    moves = store.list_events(action="alias.set", limit=1000)
    assert len(moves) == ROUNDS  # the losers changed nothing
