"""A full disk under the inference log: serving continues, drops are counted by reason.

The real thing first: the log directory is a tiny tmpfs (needs root, or any user allowed
to mount; skipped otherwise), served by a real gateway process. The gateway keeps
answering every request while the disk is full; ``mlpilot_log_dropped_total
{reason="disk_full"}`` counts what could not be written; the books balance
(submitted = written + dropped); what was written reads back; and once the file system
grows again, logging resumes. The in-process variant fakes ENOSPC at the log's single
write call, so the same behaviour is checked where mounting is not allowed.
"""

from __future__ import annotations

import errno
import shutil
import subprocess
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from chaos_support import make_context, metric, register_constant, run_gateway

from mlpilot.serve.gateway import GatewaySettings, create_gateway
from mlpilot.serve.inference_log import InferenceLog, read_records
from mlpilot.serve.inference_log import segment as segment_module

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

pytestmark = pytest.mark.chaos

MODEL = "full"
#: 100 rows: each logged record is a few KiB, so a 256 KiB file system fills quickly
BODY = {"records": [{"x": float(i), "z": i % 2} for i in range(100)]}


@pytest.fixture
def tiny_fs(tmp_path: Path) -> Iterator[Path]:
    """A 256 KiB tmpfs mounted under tmp_path; skipped where mounting is not allowed."""
    mnt = tmp_path / "tinyfs"
    mnt.mkdir()
    if shutil.which("mount") is None:
        pytest.skip("no mount command")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k,mode=0700", "tmpfs",
                           str(mnt)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield mnt
    finally:
        if subprocess.run(["umount", str(mnt)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def _log_counters(scraped: str) -> dict[str, float]:
    return {
        "submitted": metric(scraped, "mlpilot_log_submitted_total"),
        "written": metric(scraped, "mlpilot_log_written_total"),
        "dropped": metric(scraped, "mlpilot_log_dropped_total"),
        "disk_full": metric(scraped, "mlpilot_log_dropped_total", reason="disk_full"),
        "queue": metric(scraped, "mlpilot_log_queue_depth"),
    }


def _settled(client: httpx.Client, sent: int) -> dict[str, float]:
    """The log's counters once everything ``sent`` was written or dropped."""
    deadline = time.monotonic() + 10
    while True:
        c = _log_counters(client.get("/metrics").text)
        if c["submitted"] == sent and c["written"] + c["dropped"] == sent:
            return c
        assert time.monotonic() < deadline, f"the log never settled: {c}, sent {sent}"
        time.sleep(0.05)


def test_real_full_disk_keeps_serving_and_counts_drops(tmp_path: Path, tiny_fs: Path) -> None:
    ctx = make_context(tmp_path / "home")
    register_constant(ctx, MODEL, 3)
    ctx.store.close()
    log_dir = tiny_fs / "log"
    with run_gateway(ctx, tmp_path, log_dir=log_dir) as gw, \
            httpx.Client(base_url=gw.base, timeout=10) as client:
        statuses: list[int] = []

        def send(n: int) -> None:
            for _ in range(n):
                statuses.append(client.post(f"/v1/models/{MODEL}/predict", json=BODY)
                                .status_code)

        deadline = time.monotonic() + 60
        while _log_counters(client.get("/metrics").text)["disk_full"] == 0:
            assert time.monotonic() < deadline, "the 256 KiB file system never filled up"
            send(20)
        send(50)  # well past full: still served
        full = _settled(client, len(statuses))
        assert set(statuses) == {200}, f"requests failed on a full disk: {set(statuses)}"
        assert full["disk_full"] > 0 and full["dropped"] == full["disk_full"], full
        assert shutil.disk_usage(tiny_fs).free < 64 * 1024

        # room again: the writer resumes with the next batch (no restart needed)
        subprocess.run(["mount", "-o", "remount,size=8m", str(tiny_fs)], check=True)
        written_before = full["written"]
        send(30)
        resumed = _settled(client, len(statuses))
        assert resumed["written"] >= written_before + 30, (full, resumed)
        assert resumed["disk_full"] == full["disk_full"]
        assert set(statuses) == {200}
        gw.stop()
    # everything counted as written reads back (a failed append was cut back, not torn)
    assert len(list(read_records(log_dir))) == resumed["written"]


def test_simulated_enospc_in_process_keeps_serving(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """The same without mounting: ENOSPC from the log's write call while a flag is set."""
    ctx = make_context(tmp_path / "home")
    register_constant(ctx, MODEL, 3)
    real_write = segment_module._write_all
    full = {"on": False}

    def write_all(fd: int, data: Any) -> None:
        if full["on"]:
            raise OSError(errno.ENOSPC, "No space left on device")
        real_write(fd, data)

    monkeypatch.setattr(segment_module, "_write_all", write_all)
    log = InferenceLog(tmp_path / "log", fsync="never")
    app = create_gateway(ctx, log=log, settings=GatewaySettings(reconcile_interval_s=0.2))
    sent = 0
    with TestClient(app) as client:
        def send(n: int) -> None:
            nonlocal sent
            for _ in range(n):
                r = client.post(f"/v1/models/{MODEL}/predict", json=BODY)
                assert r.status_code == 200, r.text
                sent += 1

        send(10)
        assert log.flush(timeout=10)
        full["on"] = True
        send(20)
        assert log.flush(timeout=10)
        full["on"] = False
        send(10)
        assert log.flush(timeout=10)
        scraped = client.get("/metrics").text
    log.close()
    stats = log.stats()
    assert stats["submitted"] == sent == 40
    assert stats["dropped"]["disk_full"] == 20 and stats["dropped_total"] == 20
    assert stats["written"] == 20 and stats["writer_alive"] is False
    assert metric(scraped, "mlpilot_log_dropped_total", reason="disk_full") == 20
    assert len(list(read_records(tmp_path / "log"))) == 20
    ctx.store.close()
