"""A model that hangs: its requests get 504 with a clear error at the timeout, not a hang.

A real gateway process serves two names of one pyfunc model (``chaos_models:sleepy``):
``slow`` receives rows that make it sleep far past the gateway's request timeout, while
``fast`` keeps receiving ordinary traffic. The slow requests are answered 504
``predict_timeout`` soon after the timeout, naming it; the fast traffic is untouched;
both outcomes are in the inference log.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pytest
from chaos_models import SLOW_S, sleepy
from chaos_support import FRAME, LoadGenerator, good_request, make_context, run_gateway

import mlpilot
from mlpilot.serve.inference_log import read_records

pytestmark = pytest.mark.chaos

TIMEOUT_S = 0.5
SLOW_REQUESTS = 6


def test_slow_model_times_out_with_504_while_others_serve(tmp_path: Path) -> None:
    ctx = make_context(tmp_path / "home")
    for name in ("slow", "fast"):
        mlpilot.register(sleepy, name, training_data=FRAME, alias="production", context=ctx)
    ctx.store.close()

    async def slow_requests(base: str) -> list[tuple[int, float, dict]]:
        async with httpx.AsyncClient(base_url=base, timeout=SLOW_S * 4) as client:
            async def one(i: int) -> tuple[int, float, dict]:
                t0 = time.monotonic()
                r = await client.post("/v1/models/slow/predict",
                                      json={"records": [{"x": 150.0, "z": 1}]},
                                      headers={"X-Request-ID": f"slow-{i}"})
                return r.status_code, time.monotonic() - t0, r.json()

            return await asyncio.gather(*(one(i) for i in range(SLOW_REQUESTS)))

    with run_gateway(ctx, tmp_path, settings={"request_timeout_s": TIMEOUT_S}) as gw:
        with LoadGenerator(gw.base, good_request("fast"), keepalive=3, fresh=1) as load:
            time.sleep(0.3)
            before = load.count()
            slow = asyncio.run(slow_requests(gw.base))
            during = load.count() - before
        # not hung: health and the fast model answer at once
        assert httpx.get(f"{gw.base}/v2/health/live", timeout=2).status_code == 200
        gw.stop()

    for status, seconds, body in slow:
        assert status == 504, body
        assert body["code"] == "predict_timeout"
        assert f"request timeout of {TIMEOUT_S:g} s" in body["message"]
        assert body["details"]["timeout_s"] == TIMEOUT_S
        # answered at the timeout, long before the model would have finished
        assert seconds < TIMEOUT_S + 1.5 < SLOW_S, seconds
    assert during >= 20, f"only {during} fast requests were answered meanwhile"
    bad = [o for o in load.outcomes if o.status != 200 or o.body["predictions"] != [0, 1, 1]]
    assert not bad, bad[:5]

    logged = {r.request_id: r for r in read_records(gw.log_dir)}
    for i in range(SLOW_REQUESTS):
        record = logged[f"slow-{i}"]
        assert (record.status, record.error) == (504, "PredictTimeout")
    assert {o.rid for o in load.outcomes} <= set(logged)
