"""Load profiles against a real gateway: baseline, high and burst traffic.

Starts ``mlpilot serve --workers N`` (inference log on) on 127.0.0.1 in a temporary
``MLPILOT_HOME`` holding one fitted LogisticRegression (``production``), then drives it
from a separate process (this script re-run with ``--_loadgen``): a minimal asyncio
HTTP/1.1 keep-alive client, so the generator takes little CPU from the server.

Profiles:

* ``baseline`` - open loop, a steady ``--baseline-rps`` requests per second;
* ``high``     - closed loop, ``--high-concurrency`` connections sending back to back;
* ``burst``    - open loop at a low rate, then ``--burst-size`` requests all at once,
  then the low rate again (the spike's queueing shows in p99).

Open-loop latencies are measured from each request's *scheduled* time, so a stalled
server is not hidden by a stalled client (no coordinated omission). A request counts as
an error unless it answers 200 with a ``predictions`` list of the right length.

    .venv/bin/python benchmarks/load.py --quick          # ~30 s smoke run
    .venv/bin/python benchmarks/load.py --json out.json  # full run, ~1.5 min
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HOST = "127.0.0.1"
MODEL = "load"
FEATURES = 20


# -- the load generator (its own process) ------------------------------------------------


class Connection:
    """One keep-alive HTTP/1.1 connection that sends one request at a time."""

    def __init__(self, port: int, request: bytes) -> None:
        self.port, self.request = port, request
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def send(self, rows: int) -> bool:
        """One request; True for a good answer. Reconnects after any failure."""
        try:
            if self.writer is None:
                self.reader, self.writer = await asyncio.open_connection(HOST, self.port)
            assert self.reader is not None
            self.writer.write(self.request)
            status = int((await self.reader.readline()).split()[1])
            length = 0
            while (line := await self.reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            body = await self.reader.readexactly(length)
            return status == 200 and len(json.loads(body)["predictions"]) == rows
        except Exception:
            self.close()
            return False

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


def _request(port: int, rows: list[dict[str, float]]) -> bytes:
    body = json.dumps({"records": rows}).encode()
    head = (f"POST /v1/models/{MODEL}/predict HTTP/1.1\r\nHost: {HOST}:{port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n")
    return head.encode() + body


async def _open_loop(port: int, request: bytes, rows: int, schedule: list[float],
                     connections: int) -> list[tuple[float, bool]]:
    """Send at the scheduled offsets (seconds); latency counts from the scheduled time."""
    pool: asyncio.Queue[Connection] = asyncio.Queue()
    for _ in range(connections):
        pool.put_nowait(Connection(port, request))
    results: list[tuple[float, bool]] = []
    t0 = time.perf_counter() + 0.05

    async def one(at: float) -> None:
        conn = await pool.get()
        ok = await conn.send(rows)
        results.append((time.perf_counter() - (t0 + at), ok))
        pool.put_nowait(conn)

    tasks = []
    for at in schedule:
        delay = t0 + at - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(at)))
    await asyncio.gather(*tasks)
    while not pool.empty():
        pool.get_nowait().close()
    return results


async def _closed_loop(port: int, request: bytes, rows: int, seconds: float,
                       connections: int) -> list[tuple[float, bool]]:
    results: list[tuple[float, bool]] = []
    stop = time.perf_counter() + seconds

    async def client() -> None:
        conn = Connection(port, request)
        while time.perf_counter() < stop:
            start = time.perf_counter()
            ok = await conn.send(rows)
            results.append((time.perf_counter() - start, ok))
        conn.close()

    await asyncio.gather(*(client() for _ in range(connections)))
    return results


async def _profile(cfg: dict[str, Any]) -> dict[str, Any]:
    request = _request(cfg["port"], cfg["rows"])
    rows = len(cfg["rows"])
    started = time.perf_counter()
    if cfg["kind"] == "closed":
        results = await _closed_loop(cfg["port"], request, rows, cfg["seconds"],
                                     cfg["connections"])
    else:
        results = await _open_loop(cfg["port"], request, rows, cfg["schedule"],
                                   cfg["connections"])
    elapsed = time.perf_counter() - started
    latencies = sorted(lat for lat, _ in results)
    errors = sum(not ok for _, ok in results)
    return {"requests": len(results), "seconds": elapsed, "errors": errors,
            "rps": len(results) / elapsed, "p50_ms": _pct(latencies, 50) * 1000,
            "p99_ms": _pct(latencies, 99) * 1000, "max_ms": latencies[-1] * 1000}


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    return values[min(len(values) - 1, round(q / 100 * (len(values) - 1)))]


def loadgen_main(config_path: str) -> None:
    cfg = json.loads(Path(config_path).read_text())
    print(json.dumps(asyncio.run(_profile(cfg))))


# -- the gateway -----------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def _setup(home: Path, seed: int = 0) -> list[dict[str, float]]:
    """Register a LogisticRegression on seeded data; return rows to send."""
    import numpy as np
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    import mlpilot
    from mlpilot.core.settings import Settings
    from mlpilot.sdk._context import Context

    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(2000, FEATURES)),
                     columns=[f"f{i}" for i in range(FEATURES)])
    y = (X.sum(axis=1) > 0).astype(int)
    ctx = Context.from_settings(Settings.from_env(home))
    mlpilot.register(LogisticRegression().fit(X, y), MODEL, training_data=X,
                     alias="production", context=ctx)
    ctx.store.close()
    return X.head(1).to_dict(orient="records")


def _start(home: Path, port: int, workers: int, out: Path) -> subprocess.Popen[bytes]:
    import httpx

    env = {**os.environ, "MLPILOT_HOME": str(home)}
    env.pop("MLPILOT_STORE_URL", None)
    env.pop("MLPILOT_ARTIFACT_URL", None)
    with out.open("wb") as f:
        proc = subprocess.Popen(
            [sys.executable, "-m", "mlpilot.cli.main", "serve", "--port", str(port),
             "--workers", str(workers), "--log-dir", str(home / "inference-log")],
            env=env, stdout=f, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://{HOST}:{port}/v2/health/ready", timeout=2).status_code == 200:
                return proc
        except httpx.TransportError:
            pass
        if proc.poll() is not None:
            break
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    raise SystemExit(f"the gateway did not start:\n{out.read_text()[-3000:]}")


def _run_profile(cfg: dict[str, Any], work: Path) -> dict[str, Any]:
    path = work / f"loadgen-{cfg['name']}.json"
    path.write_text(json.dumps(cfg))
    done = subprocess.run([sys.executable, __file__, "--_loadgen", str(path)],
                          capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def _profiles(args: argparse.Namespace, port: int, rows: list[dict[str, float]]
              ) -> list[dict[str, Any]]:
    s = args.seconds
    base = {"port": port, "rows": rows}
    baseline = [i / args.baseline_rps for i in range(int(s * args.baseline_rps))]
    low = [i / args.burst_low_rps for i in range(int(s / 2 * args.burst_low_rps))]
    spike_at = s / 2
    burst = low + [spike_at] * args.burst_size + [spike_at + 0.5 + t for t in low]
    return [
        {**base, "name": "baseline", "kind": "open", "schedule": baseline, "connections": 8,
         "shape": f"{args.baseline_rps} rps open loop, {s:g} s"},
        {**base, "name": "high", "kind": "closed", "seconds": s,
         "connections": args.high_concurrency,
         "shape": f"{args.high_concurrency} connections closed loop, {s:g} s"},
        {**base, "name": "burst", "kind": "open", "schedule": sorted(burst),
         "connections": args.burst_size,
         "shape": f"{args.burst_low_rps} rps + {args.burst_size} at once"},
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short profiles (smoke run)")
    parser.add_argument("--workers", type=int, default=2, help="gateway worker processes")
    parser.add_argument("--seconds", type=float, default=None, help="length of each profile")
    parser.add_argument("--baseline-rps", type=int, default=100)
    parser.add_argument("--high-concurrency", type=int, default=64)
    parser.add_argument("--burst-low-rps", type=int, default=20)
    parser.add_argument("--burst-size", type=int, default=200)
    parser.add_argument("--json", type=Path, help="write every figure here")
    args = parser.parse_args()
    args.seconds = args.seconds or (4.0 if args.quick else 20.0)

    with tempfile.TemporaryDirectory(prefix="mlpilot-load-") as tmp:
        work = Path(tmp)
        home = work / "home"
        rows = _setup(home)
        port = _free_port()
        proc = _start(home, port, args.workers, work / "gateway.out")
        try:
            results = []
            for cfg in _profiles(args, port, rows):
                figures = _run_profile(cfg, work)
                results.append({"profile": cfg["name"], "shape": cfg["shape"], **figures})
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
    print(f"gateway: mlpilot serve --workers {args.workers}, 1-row LogisticRegression "
          f"({FEATURES} features), inference log on; {platform.machine()}, "
          f"{os.cpu_count()} CPUs, Python {platform.python_version()}")
    print(f"{'profile':<9} {'shape':<36} {'requests':>8} {'req/s':>8} {'p50 ms':>8} "
          f"{'p99 ms':>8} {'errors':>7}")
    for r in results:
        rate = r["errors"] / r["requests"] if r["requests"] else float("nan")
        print(f"{r['profile']:<9} {r['shape']:<36} {r['requests']:>8} {r['rps']:>8.0f} "
              f"{r['p50_ms']:>8.1f} {r['p99_ms']:>8.1f} {rate:>7.2%}")
    if args.json:
        args.json.write_text(json.dumps({"workers": args.workers, "results": results},
                                        indent=2))
    return 1 if any(r["errors"] for r in results) else 0


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--_loadgen":
        loadgen_main(sys.argv[2])
    else:
        sys.exit(main())
