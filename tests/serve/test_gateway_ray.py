"""The gateway on Ray Serve, against a real local Ray runtime: HTTP answers and the log."""

from __future__ import annotations

import shutil
import socket
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("ray.serve")

import httpx  # noqa: E402
import pandas as pd  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

import mlpilot  # noqa: E402
from mlpilot.cli.main import app as cli_app  # noqa: E402
from mlpilot.core.errors import InvalidArgument  # noqa: E402
from mlpilot.sdk._context import Context  # noqa: E402
from mlpilot.serve.gateway import GatewaySettings  # noqa: E402
from mlpilot.serve.gateway.ray_serve import RayGateway, start_gateway_on_ray  # noqa: E402
from mlpilot.serve.inference_log import read_records  # noqa: E402

pytestmark = pytest.mark.ray


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def toy(tmp_path: Path) -> Iterator[Context]:
    """A SQLite store under tmp_path holding the model 'toy' (alias production)."""
    ctx = mlpilot.configure(home=str(tmp_path / "home"))
    frame = pd.DataFrame({"x": [0.0, 1.0, 2.0, 3.0, 4.0, 5.0], "z": [1, 0, 1, 0, 1, 0]})
    model = LogisticRegression().fit(frame, [0, 0, 0, 1, 1, 1])
    mlpilot.register(model, "toy", training_data=frame, alias="production", context=ctx)
    yield ctx
    mlpilot.set_context(None)


@pytest.fixture
def gateway(toy: Context, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
            request: pytest.FixtureRequest) -> Iterator[RayGateway]:
    """The gateway on a fresh local Ray (2 CPUs), shut down with Ray afterwards."""
    # A throwaway cluster on loopback: without this, Ray saves a token in ~/.ray.
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    ray_tmp = Path(tempfile.mkdtemp(prefix="mlpilot-ray-", dir="/tmp"))  # short socket paths
    request.addfinalizer(lambda: shutil.rmtree(ray_tmp, ignore_errors=True))
    gw = start_gateway_on_ray(
        toy, "127.0.0.1", _free_port(), log_dir=tmp_path / "log",
        settings=GatewaySettings(reconcile_interval_s=0.5), max_replicas=1,
        ray_init={"num_cpus": 2, "_temp_dir": str(ray_tmp), "log_to_driver": False,
                  "configure_logging": False})
    try:
        yield gw
    finally:
        gw.shutdown()


def _wait_ready(base: str, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if httpx.get(f"{base}/v2/health/ready", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, "the gateway on Ray never became ready"
        time.sleep(0.3)


def test_ray_gateway_answers_and_logs(gateway: RayGateway, tmp_path: Path) -> None:
    base = gateway.url
    _wait_ready(base)
    assert httpx.get(f"{base}/v2/health/ready", timeout=10).status_code == 200

    reply = httpx.post(f"{base}/v1/models/toy/predict",
                       json={"records": [{"x": 4.5, "z": 1}, {"x": 0.5, "z": 0}]},
                       headers={"X-Request-ID": "ray-1"}, timeout=10)
    assert reply.status_code == 200, reply.text
    assert reply.json()["predictions"] == [1, 0] and reply.json()["version"] == 1
    assert reply.headers.get_list("x-request-id") == ["ray-1"]

    infer = httpx.post(f"{base}/v2/models/toy/infer", json={
        "inputs": [{"name": "x", "shape": [2], "datatype": "FP64", "data": [5.0, 0.0]},
                   {"name": "z", "shape": [2], "datatype": "INT64", "data": [0, 1]}]},
        headers={"X-Request-ID": "ray-2"}, timeout=10)
    assert infer.status_code == 200, infer.text
    body = infer.json()
    assert body["model_name"] == "toy" and body["id"] == "ray-2"
    assert {o["name"]: o["data"] for o in body["outputs"]}["predict"] == [1, 0]

    bad = httpx.post(f"{base}/v1/models/toy/predict", content=b"{not json",
                     headers={"content-type": "application/json", "x-request-id": "no good!"},
                     timeout=10)
    assert bad.status_code == 400 and bad.json()["code"] == "invalid_json"
    generated = bad.headers.get_list("x-request-id")[0]  # the gateway's; Ray's follows
    assert generated != "no good!" and bad.json()["request_id"] == generated
    plain = httpx.get(f"{base}/v2/health/live", timeout=10)
    assert len(plain.headers.get_list("x-request-id")) == 1

    missing = httpx.post(f"{base}/v1/models/nope/predict", json={"records": [{"x": 1.0}]},
                         timeout=10)
    assert missing.status_code == 404 and missing.json()["code"] == "not_found"

    gateway.shutdown()  # drains the replica, whose destructor closes its log
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{base}/v2/health/live", timeout=2)
    assert (tmp_path / "log" / "worker-0" / "feedback").is_dir()  # the replica ran the lifespan
    records = list(read_records(tmp_path / "log" / "worker-0"))
    by_id = {r.request_id: r for r in records}
    assert {"ray-1", "ray-2", generated} <= set(by_id)
    assert by_id["ray-1"].version == 1 and by_id["ray-1"].status == 200
    assert by_id[generated].status == 400


def test_replica_counts_are_checked(toy: Context) -> None:
    with pytest.raises(InvalidArgument, match="max_replicas must be an integer >= min"):
        start_gateway_on_ray(toy, min_replicas=3, max_replicas=2)
    with pytest.raises(InvalidArgument, match="min_replicas must be an integer >= 1"):
        start_gateway_on_ray(toy, min_replicas=0)


def test_missing_ray_names_the_extra(toy: Context, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(InvalidArgument, match=r"pip install 'mlpilot\[ray\]'"):
        start_gateway_on_ray(toy)


def test_cli_refuses_workers_with_ray(tmp_path: Path,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLPILOT_HOME", str(tmp_path / "home"))
    result = CliRunner().invoke(cli_app, ["serve", "--ray", "--workers", "2"])
    assert result.exit_code == 2 and "--workers does not apply with --ray" in result.output
    result = CliRunner().invoke(cli_app, ["serve", "--max-replicas", "3"])
    assert result.exit_code == 2 and "need --ray" in result.output
