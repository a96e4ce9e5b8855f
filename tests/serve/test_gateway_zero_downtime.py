"""Zero-downtime changes and multi-worker serving, against a real ``mlpilot serve``.

The gateway runs as a subprocess (uvicorn, two worker processes) on a store that
the test changes underneath it: the ``production`` alias flips between versions,
a canary deployment is created, stepped and rolled back, then removed. A load
generator keeps requests in flight the whole time. Every request is tracked by
its own ``X-Request-ID`` and checked three ways: the client's outcome, the
``version`` the gateway says answered (and the predictions that prove it: version
``v`` predicts ``v`` for every row), and the per-worker inference logs read back
after a graceful shutdown.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pandas as pd
import pytest
from sklearn.dummy import DummyClassifier

import mlpilot
from mlpilot.core.entities import Route
from mlpilot.sdk._context import Context
from mlpilot.serve.inference_log import InferenceRecord, read_records

MODEL = "zd"
PATH = f"/v1/models/{MODEL}/predict"
ROWS = [{"x": 0.5, "z": 1}, {"x": 1.5, "z": 0}, {"x": 2.5, "z": 1}]
WORKERS = 2
RECONCILE_S = 0.2
#: a change must be served by every worker this long after the store write returned
#: (reconcile interval + model load + scheduling slack on a loaded 2-core machine)
SWITCH_BOUND_S = 1.0
#: time between two changes (longer than SWITCH_BOUND_S, so each change settles)
CHANGE_EVERY_S = 1.5
KEEPALIVE_CLIENTS = 6  # keep-alive connections, POSTing back to back
FRESH_CLIENTS = 2  # a new connection per request, so both workers keep getting traffic


# -- the gateway subprocess ----------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _register_versions(ctx: Context) -> None:
    """Versions 1, 2 and 3 of MODEL; version ``v`` predicts the class ``v`` for any row."""
    frame = pd.DataFrame({"x": [0.0, 1.0, 2.0], "z": [1, 0, 1]})
    for v in (1, 2, 3):
        model = DummyClassifier(strategy="constant", constant=v).fit(frame, [1, 2, 3])
        mlpilot.register(model, MODEL, training_data=frame,
                         alias="production" if v == 1 else None, context=ctx)


@dataclass
class Gateway:
    proc: subprocess.Popen[bytes]
    base: str
    log_dir: Path
    output: Path

    def tail(self) -> str:
        return self.output.read_text(errors="replace")[-4000:]

    def stop(self, sig: signal.Signals) -> None:
        """Graceful stop: one signal to uvicorn's parent, which stops its workers."""
        self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the gateway did not stop on {sig.name} within 30 s:\n{self.tail()}")
        assert rc == 0, f"the gateway exited with {rc} on {sig.name}:\n{self.tail()}"
        assert "Traceback" not in self.output.read_text(errors="replace"), self.tail()


@pytest.fixture
def gateway(context: Context, tmp_path: Path) -> Iterator[Gateway]:
    """``mlpilot serve --workers 2`` on the ``context`` store, ready; killed if left running."""
    _register_versions(context)
    s = context.settings
    env = {**os.environ, "MLPILOT_HOME": str(s.home), "MLPILOT_STORE_URL": s.store_url,
           "MLPILOT_ARTIFACT_URL": s.artifact_url}
    port = _free_port()
    output = tmp_path / "gateway.out"
    log_dir = tmp_path / "inference-log"
    with output.open("wb") as out:  # a file, not a pipe: access logs would fill a pipe
        proc = subprocess.Popen(
            [sys.executable, "-m", "mlpilot.cli.main", "serve", "--port", str(port),
             "--workers", str(WORKERS), "--reconcile-interval", str(RECONCILE_S),
             "--log-dir", str(log_dir)],
            env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    gw = Gateway(proc, f"http://127.0.0.1:{port}", log_dir, output)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{gw.base}/v2/health/ready", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None, f"the gateway exited early:\n{gw.tail()}"
            assert time.monotonic() < deadline, f"the gateway never became ready:\n{gw.tail()}"
            time.sleep(0.2)
        yield gw
    finally:
        if proc.poll() is None:  # a failed test: no orphan server (nor worker) survives
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait(timeout=10)


def _worker_logs(log_dir: Path) -> dict[str, list[InferenceRecord]]:
    return {d.name: list(read_records(d)) for d in sorted(log_dir.glob("worker-*"))}


# -- the load generator --------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """One request as the client saw it (times are ``time.time()``)."""

    rid: str
    start: float
    end: float
    status: int | None
    version: int | None
    problem: str | None  # why the answer is wrong; None for a good answer


def _judge(rid: str, reply: httpx.Response) -> tuple[int | None, str | None]:
    if reply.status_code != 200:
        return None, f"HTTP {reply.status_code}: {reply.text[:200]}"
    if reply.headers.get("x-request-id") != rid:
        return None, f"X-Request-ID {reply.headers.get('x-request-id')!r}"
    body = reply.json()
    version = body.get("version")
    if body.get("request_id") != rid or body.get("model") != MODEL:
        return version, f"wrong body {body}"
    if body.get("predictions") != [version] * len(ROWS):
        return version, f"predictions {body.get('predictions')} from version {version}"
    return version, None


class LoadGenerator:
    """Concurrent POSTs from a background thread's event loop until :meth:`stop`."""

    def __init__(self, base: str, keepalive: int = KEEPALIVE_CLIENTS,
                 fresh: int = FRESH_CLIENTS) -> None:
        self.base, self.keepalive, self.fresh = base, keepalive, fresh
        self.outcomes: list[Outcome] = []
        self._halt = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()),
                                        name="load", daemon=True)

    def __enter__(self) -> LoadGenerator:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> list[Outcome]:
        self._halt.set()
        self._thread.join(timeout=30)
        assert not self._thread.is_alive(), "the load generator did not stop"
        return self.outcomes

    async def _main(self) -> None:
        timeout = httpx.Timeout(10.0)
        async with httpx.AsyncClient(base_url=self.base, timeout=timeout,
                                     limits=httpx.Limits(max_connections=self.keepalive)
                                     ) as pooled, \
                httpx.AsyncClient(base_url=self.base, timeout=timeout,
                                  headers={"Connection": "close"}) as fresh:
            await asyncio.gather(*(self._client(pooled, f"k{i}") for i in range(self.keepalive)),
                                 *(self._client(fresh, f"f{i}") for i in range(self.fresh)))

    async def _client(self, client: httpx.AsyncClient, tag: str) -> None:
        n = 0
        while not self._halt.is_set():
            rid, n = f"{tag}-{n}", n + 1
            start = time.time()
            try:
                reply = await client.post(PATH, json={"records": ROWS},
                                          headers={"X-Request-ID": rid})
                version, problem = _judge(rid, reply)
                status: int | None = reply.status_code
            except httpx.HTTPError as exc:  # a dropped connection is a failed request
                version, problem, status = None, f"{type(exc).__name__}: {exc}", None
            self.outcomes.append(Outcome(rid, start, time.time(), status, version, problem))


# -- the desired-state changes -------------------------------------------------------


@dataclass
class Phase:
    """The desired state from ``written`` (store write returned) until the next change."""

    label: str
    began: float  # the store write started
    written: float  # the store write returned
    expected: frozenset[int]  # the versions that must answer once the change settled
    until: float = float("inf")  # the next change's write started
    answers: Counter[int] = field(default_factory=Counter)  # settled client answers


def _assert_log_matches(outcomes: list[Outcome], logs: dict[str, list[InferenceRecord]]
                        ) -> None:
    """Every answered request is in exactly one worker's log, exactly once, as answered."""
    logged = Counter(r.request_id for records in logs.values() for r in records)
    twice = [rid for rid, n in logged.items() if n > 1]
    assert not twice, f"{len(twice)} request ids logged more than once: {twice[:5]}"
    answered = {o.rid: o for o in outcomes if o.status is not None}
    missing = sorted(set(answered) - set(logged))
    assert not missing, f"{len(missing)} answered requests are not in the log: {missing[:5]}"
    extra = sorted(set(logged) - {o.rid for o in outcomes})
    assert not extra, f"the log holds requests nobody sent: {extra[:5]}"
    for records in logs.values():
        for r in records:
            o = answered[r.request_id]
            assert (r.status, r.version, r.model) == (o.status, o.version, MODEL), (r, o)


# SQLite only: the PostgreSQL store is exercised by the (longer) test below, which makes
# the same multi-worker assertions; one gateway start fewer keeps the file near a minute.
@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_two_workers_both_answer_and_log_every_request_once(gateway: Gateway) -> None:
    """New connections spread over both workers; each logs what it answered, once."""
    outcomes: list[Outcome] = []

    async def burst(start: int, n: int) -> None:
        async with httpx.AsyncClient(base_url=gateway.base, timeout=10,
                                     headers={"Connection": "close"}) as client:
            async def one(i: int) -> None:
                rid = f"mw-{i}"
                t0 = time.time()
                reply = await client.post(PATH, json={"records": ROWS},
                                          headers={"X-Request-ID": rid})
                version, problem = _judge(rid, reply)
                outcomes.append(Outcome(rid, t0, time.time(), reply.status_code, version,
                                        problem))

            await asyncio.gather(*(one(i) for i in range(start, start + n)))

    # The kernel hands each new connection to whichever worker accepts first; keep
    # sending until both have logged something (live segments are readable).
    sent, deadline = 0, time.monotonic() + 20
    while True:
        asyncio.run(burst(sent, 16))
        sent += 16
        busy = {name for name, records in _worker_logs(gateway.log_dir).items() if records}
        if len(busy) == WORKERS and sent >= 64:
            break
        assert time.monotonic() < deadline, (
            f"after {sent} requests on new connections only {sorted(busy)} answered")
        time.sleep(0.05)
    assert [o for o in outcomes if o.problem] == []
    assert {o.version for o in outcomes} == {1}

    gateway.stop(signal.SIGTERM)
    logs = _worker_logs(gateway.log_dir)
    assert sorted(logs) == [f"worker-{n}" for n in range(WORKERS)]
    assert all(logs.values()), {name: len(records) for name, records in logs.items()}
    _assert_log_matches(outcomes, logs)


def test_alias_moves_and_canary_under_load_drop_nothing(gateway: Gateway,
                                                         context: Context) -> None:
    """Flip ``production`` six times, run a canary (create, step, roll back), remove it.

    Zero downtime: no request fails, each change is served by every worker within
    SWITCH_BOUND_S, and nothing but the versions of the current (or, within the bound,
    the previous) desired state ever answers. This also proves that requests in
    flight while a worker reloads and swaps its routing table are not dropped: the
    load never pauses, and every request sent is accounted for (answered correctly
    by the client's count, and logged exactly once by the workers).
    """
    store = context.store
    phases: list[Phase] = []

    def change(label: str, expected: set[int], write: Callable[[], object]) -> None:
        began = time.time()
        write()
        written = time.time()
        if phases:
            phases[-1].until = began
        phases.append(Phase(label, began, written, frozenset(expected)))

    def alias(version: int) -> None:
        mlpilot.set_alias(MODEL, "production", version, reason="zero-downtime test",
                          context=context)

    def routes(*rs: Route, step: int, **params: object) -> None:
        dep = store.get_deployment(MODEL)
        store.put_deployment(MODEL, model=MODEL, strategy="canary", routes=list(rs),
                             params={**dep.params, "step": step, **params},
                             expected_revision=dep.revision, reason="zero-downtime test")

    with LoadGenerator(gateway.base) as load:
        now = time.time()
        phases.append(Phase("initial: production=1", now, now, frozenset({1})))
        time.sleep(CHANGE_EVERY_S)
        for v in (2, 3, 1, 2, 1, 2):  # six alias moves
            change(f"production={v}", {v}, lambda v=v: alias(v))
            time.sleep(CHANGE_EVERY_S)
        change("canary 3 at 50% over 2", {2, 3}, lambda: mlpilot.deploy(
            MODEL, 3, strategy="canary", params={"steps": [0.5, 1.0]}, context=context))
        time.sleep(CHANGE_EVERY_S)
        change("canary stepped to 100%", {3},
               lambda: routes(Route(2, 0.0), Route(3, 1.0, "canary"), step=1))
        time.sleep(CHANGE_EVERY_S)
        change("canary rolled back", {2},
               lambda: routes(Route(2, 1.0), Route(3, 0.0, "canary"), step=1,
                              phase="rolled_back"))
        time.sleep(CHANGE_EVERY_S)
        # the deployment, not the alias, serves the name: moving the alias changes nothing
        change("production=1 under the deployment", {2}, lambda: alias(1))
        time.sleep(CHANGE_EVERY_S)
        change("deployment removed: production=1", {1},
               lambda: store.delete_deployment(MODEL, reason="zero-downtime test"))
        time.sleep(CHANGE_EVERY_S + 0.5)
    outcomes = load.outcomes
    gateway.stop(signal.SIGINT)

    # 1. nothing failed, nothing was dropped: every request got a correct 200
    failed = [o for o in outcomes if o.problem is not None]
    assert len(outcomes) > 200, f"the load generator sent only {len(outcomes)} requests"
    assert not failed, f"{len(failed)} of {len(outcomes)} requests failed: {failed[:5]}"

    # 2. per phase, once settled, only (and, for the canary, both) expected versions
    def phase_at(t: float) -> int:
        return max(i for i, p in enumerate(phases) if p.began <= t or i == 0)

    for o in outcomes:
        # allowed: every phase the request overlapped, and those a worker may still have
        # been serving when it arrived (up to SWITCH_BOUND_S after the next write)
        last = phase_at(o.end)
        first = min(j for j in range(last + 1)
                    if j == last or phases[j + 1].written + SWITCH_BOUND_S > o.start)
        allowed = frozenset().union(*(p.expected for p in phases[first:last + 1]))
        assert o.version in allowed, (o, [p.label for p in phases[first:last + 1]])
        p = phases[phase_at(o.start)]
        if o.start >= p.written + SWITCH_BOUND_S and o.end < p.until:
            p.answers[o.version] += 1  # type: ignore[index]
    for p in phases:
        assert sum(p.answers.values()) >= 10, (p.label, p.answers)
        assert set(p.answers) == p.expected, (
            f"{p.label}: answered {dict(p.answers)} more than {SWITCH_BOUND_S} s after the "
            f"change, expected only {sorted(p.expected)}")
    assert {o.version for o in outcomes if o.start >= phases[-1].written + SWITCH_BOUND_S
            } == {1}

    # 3. the same, worker by worker, from the inference logs (the time logged is when
    # the request arrived, just before it was routed)
    logs = _worker_logs(gateway.log_dir)
    _assert_log_matches(outcomes, logs)
    for name, records in logs.items():
        settled: Counter[str] = Counter()
        for r in records:
            t = r.time.replace(tzinfo=r.time.tzinfo or UTC).timestamp()
            p = phases[phase_at(t)]
            if t >= p.written + SWITCH_BOUND_S and t < p.until:
                assert r.version in p.expected, (
                    f"{name} answered {r.request_id} at "
                    f"{datetime.fromtimestamp(t, UTC):%H:%M:%S.%f} with version {r.version} "
                    f"{t - p.written:.2f} s after {p.label!r}")
                settled[p.label] += 1
        # both workers kept serving through the changes, and served the final state
        assert len(settled) >= len(phases) // 2, (name, settled)
        assert settled[phases[-1].label] > 0, (name, settled)
