"""The demo's in-process gateway: real HTTP on loopback, and a clean stop even on errors."""

from __future__ import annotations

import threading
from pathlib import Path

import httpx
import pytest

from mlpilot.core.settings import Settings
from mlpilot.demo.gateway import LocalGateway
from mlpilot.sdk._context import Context
from mlpilot.serve.gateway.settings import GatewaySettings
from mlpilot.serve.inference_log import InferenceLog


def _context(home: Path) -> Context:
    settings = Settings(home=home, store_url=f"sqlite:///{home}/mlpilot.db",
                        artifact_url=str(home / "artifacts"), actor="tester")
    settings.ensure_home()
    return Context.from_settings(settings)


def _gateway_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "mlpilot-demo-gateway"]


def test_local_gateway_serves_and_stops_cleanly_on_error(tmp_path: Path) -> None:
    log_dir = tmp_path / "log"
    with pytest.raises(RuntimeError, match="boom"):
        with LocalGateway(_context(tmp_path / "home"), log_dir,
                          GatewaySettings(reconcile_interval_s=0.2)) as gateway:
            assert gateway.url.startswith("http://127.0.0.1:")
            answer = httpx.get(f"{gateway.url}/v2/health/live", timeout=10)
            assert answer.json() == {"live": True}
            missing = httpx.post(f"{gateway.url}/v1/models/nothing/predict",
                                 json={"record": {"a": 1}}, timeout=10)
            assert missing.status_code == 404
            raise RuntimeError("boom")
    assert not _gateway_threads()
    InferenceLog(log_dir).close()  # the writer lock was released
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{gateway.url}/v2/health/live", timeout=2)
