"""``kill -9`` of one gateway worker under load, against a real ``mlpilot serve --workers 2``.

The other worker keeps serving (only requests in flight on the killed one may fail),
uvicorn starts a replacement, and the inference log loses at most the documented tail:
records the killed worker had answered but not yet handed to the OS (its queue; the
writer lingers 5 ms per batch). The replacement worker takes the free log directory,
seals the segment the dead worker left open, and says so in its metrics.
"""

from __future__ import annotations

import os
import signal
import time
from collections import Counter
from pathlib import Path

import httpx
import psutil
import pytest
from chaos_support import (
    LoadGenerator,
    good_request,
    make_context,
    metric,
    register_constant,
    run_gateway,
)

from mlpilot.serve.inference_log import SegmentReader, read_records
from mlpilot.serve.inference_log.segment import list_segments

pytestmark = [pytest.mark.chaos,
              pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX kill -9")]

MODEL = "victim"
#: requests that started this long after the kill must all succeed
GRACE_S = 1.0
#: answered requests may be missing from the log only if they ended this close to the kill
#: (records still queued in the killed worker; see mlpilot.serve.inference_log.writer)
LOG_TAIL_S = 1.0


def _log_dir_of(pid: int, log_dir: Path) -> Path | None:
    """The ``worker-N`` directory whose writer lock process ``pid`` holds open, if any yet."""
    try:
        files = psutil.Process(pid).open_files()
    except psutil.NoSuchProcess:
        return None
    for f in files:
        path = Path(f.path)
        if path.name == "writer.lock" and path.parent.parent == log_dir:
            return path.parent
    return None


def _wait_until(check: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def test_kill_9_one_worker_others_keep_serving_log_loses_at_most_the_tail(
        tmp_path: Path) -> None:
    ctx = make_context(tmp_path / "home")
    register_constant(ctx, MODEL, 7)
    ctx.store.close()
    with run_gateway(ctx, tmp_path, workers=2, cli=True) as gw:
        # ready means one worker answered: wait until both hold their log directory
        _wait_until(lambda: len(gw.workers()) == 2 and all(
            _log_dir_of(pid, gw.log_dir) for pid in gw.workers()), 30, "two workers' logs")
        workers = gw.workers()
        dirs = {pid: _log_dir_of(pid, gw.log_dir) for pid in workers}
        assert None not in dirs.values() and len(set(dirs.values())) == 2, dirs
        victim = workers[0]
        with LoadGenerator(gw.base, good_request(MODEL), keepalive=4, fresh=4) as load:
            # both workers must have served before the kill (fresh connections spread)
            _wait_until(lambda: load.count() >= 300 and all(
                list_segments(d / "segments") for d in dirs.values()), 30,
                "traffic on both workers")
            killed_at = time.time()
            os.kill(victim, signal.SIGKILL)
            before = load.count()
            _wait_until(lambda: load.count() >= before + 300
                        and time.time() > killed_at + GRACE_S + 2, 30, "traffic after the kill")
        outcomes = load.outcomes

        # uvicorn replaces the dead worker; the replacement takes the free log directory,
        # recovers it, and says so (only it has a non-zero recovery counter)
        restarted = False
        try:
            _wait_until(lambda: len(gw.workers()) == 2 and victim not in gw.workers(), 20,
                        "a replacement worker")
            restarted = True
        except AssertionError:
            pass  # uvicorn before 0.30 does not restart workers: checked after the stop
        if restarted:
            (new,) = set(gw.workers()) - set(workers)
            _wait_until(lambda: _log_dir_of(new, gw.log_dir) == dirs[victim], 20,
                        "the replacement to open the dead worker's log")

            def says_so() -> bool:
                scraped = httpx.get(f"{gw.base}/metrics", headers={"Connection": "close"},
                                    timeout=5).text
                return metric(scraped, "mlpilot_log_recovered_sealed_segments_total") >= 1

            _wait_until(says_so, 20, "a scrape of the replacement's recovery counter")
        gw.stop()

    # 1. the other worker kept serving: failures only for requests in flight at the kill
    failed = [o for o in outcomes if o.status != 200]
    assert all(o.start < killed_at + GRACE_S for o in failed), [
        o for o in failed if o.start >= killed_at + GRACE_S][:5]
    assert len(failed) <= 16, f"{len(failed)} requests failed: {failed[:5]}"
    after = [o for o in outcomes if o.start >= killed_at + GRACE_S]
    assert len(after) >= 100, f"only {len(after)} requests after the kill"
    assert all(o.body["predictions"] == [7, 7, 7] for o in outcomes if o.status == 200)

    # 2. the log: nothing twice; an answered request is missing only if the killed worker
    # answered it just before dying
    logged = Counter(r.request_id for d in dirs.values() for r in read_records(d))
    assert not [rid for rid, n in logged.items() if n > 1]
    answered = {o.rid: o for o in outcomes if o.status == 200}
    missing = [answered[rid] for rid in sorted(set(answered) - set(logged))]
    late = [o for o in missing if not killed_at - LOG_TAIL_S <= o.end <= killed_at + 0.1]
    assert not late, f"{len(late)} answered requests lost outside the tail: {late[:5]}"
    assert len(missing) <= 50, f"{len(missing)} answered requests lost at the kill"
    assert set(logged) <= {o.rid for o in outcomes}

    # 3. the dead worker's open segment was sealed by recovery (never deleted), its
    # records readable; without a restart, opening the log is the restart
    if not restarted:
        from mlpilot.serve.inference_log import InferenceLog

        with InferenceLog(dirs[victim]) as log:
            assert log.stats()["recovered_sealed"] >= 1
    segments = list_segments(dirs[victim] / "segments")
    assert segments and all(SegmentReader(s).sealed for s in segments)
    assert not list((dirs[victim] / "quarantine").iterdir())
