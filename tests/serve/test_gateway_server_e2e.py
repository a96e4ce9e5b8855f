"""`mlpilot serve` for real: uvicorn in a subprocess on 127.0.0.1, a prediction, the log."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pandas as pd
from sklearn.linear_model import LogisticRegression

import mlpilot
from mlpilot.serve.inference_log import read_records


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serve_command_answers_and_logs(tmp_path: Path) -> None:
    home = tmp_path / "home"
    ctx = mlpilot.configure(home=str(home))
    frame = pd.DataFrame({"x": [0.0, 1.0, 2.0, 3.0, 4.0, 5.0], "z": [1, 0, 1, 0, 1, 0]})
    model = LogisticRegression().fit(frame, [0, 0, 0, 1, 1, 1])
    mlpilot.register(model, "toy", training_data=frame, alias="production", context=ctx)
    mlpilot.set_context(None)

    port = _free_port()
    env = {**os.environ, "MLPILOT_HOME": str(home)}
    env.pop("MLPILOT_STORE_URL", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlpilot.cli.main", "serve", "--port", str(port),
         "--reconcile-interval", "0.5", "--redact", "z"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/v2/health/ready", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            assert time.monotonic() < deadline, "the gateway never became ready"
            time.sleep(0.3)
        reply = httpx.post(f"{base}/v1/models/toy/predict",
                           json={"records": [{"x": 4.5, "z": 1}, {"x": 0.5, "z": 0}]},
                           headers={"X-Request-ID": "e2e-1"}, timeout=10)
        assert reply.status_code == 200, reply.text
        body = reply.json()
        assert body["predictions"] == [1, 0] and body["version"] == 1
        assert reply.headers["x-request-id"] == "e2e-1"
        bad = httpx.post(f"{base}/v1/models/toy/predict", content=b"{not json",
                         headers={"content-type": "application/json"}, timeout=10)
        assert bad.status_code == 400 and bad.json()["code"] == "invalid_json"
        metrics = httpx.get(f"{base}/metrics", timeout=10).text
        assert "mlpilot_requests_total" in metrics
    finally:
        proc.send_signal(signal.SIGTERM)  # uvicorn re-raises it: the app closes the log
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    records = {r.request_id: r for r in read_records(home / "inference-log")}
    assert "e2e-1" in records  # flushed on shutdown
    assert records["e2e-1"].features == {"x": [4.5, 0.5], "z": "[REDACTED]"}  # --redact z
