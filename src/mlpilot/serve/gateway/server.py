"""Run the gateway with uvicorn.

The gateway has **no authentication**: it is meant to listen on loopback (the
default) or behind a proxy/mesh that authenticates. Binding another address
logs a warning.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from mlpilot.core.errors import Conflict, InvalidArgument
from mlpilot.core.network import is_loopback
from mlpilot.core.settings import Settings
from mlpilot.sdk._context import Context
from mlpilot.serve.gateway.app import create_gateway
from mlpilot.serve.gateway.settings import GatewaySettings
from mlpilot.serve.inference_log import InferenceLog

logger = logging.getLogger("mlpilot.gateway")
_ENV = "MLPILOT_GATEWAY_WORKER_CONFIG"
_MAX_SLOTS = 256


def _open_slot(log_dir: Path, redact: tuple[str, ...] = ()) -> InferenceLog:
    """The first ``worker-N`` log directory no other live worker holds."""
    for n in range(_MAX_SLOTS):
        try:
            return InferenceLog(log_dir / f"worker-{n}", redact=redact)
        except Conflict:
            continue
    raise Conflict(f"All {_MAX_SLOTS} worker log directories under {log_dir} are in use.")


def _worker_app() -> FastAPI:
    """uvicorn factory for multi-worker serving (config passed in the environment)."""
    config = json.loads(os.environ[_ENV])
    settings = Settings(home=Path(config["home"]), store_url=config["store_url"],
                        artifact_url=config["artifact_url"], actor=config["actor"])
    context = Context.from_settings(settings)
    settings = GatewaySettings(**config["gateway"])
    log = _open_slot(Path(config["log_dir"]), settings.redact) if config["log_dir"] else None
    return create_gateway(context, log=log, settings=settings, owns_log=True)


def serve_gateway(
    context: Context,
    host: str = "127.0.0.1",
    port: int = 8081,
    *,
    workers: int = 1,
    log_dir: str | os.PathLike[str] | None = None,
    settings: GatewaySettings | None = None,
    log_level: str = "info",
) -> None:
    """Serve models and deployments from ``context`` until interrupted.

    Args:
        context: the stores to serve from.
        host: address to bind. The gateway is unauthenticated: keep it on loopback
            or behind an authenticating proxy.
        port: TCP port.
        workers: uvicorn worker processes. With more than one, each worker writes
            its own inference log under ``log_dir/worker-N`` (one writer per
            directory); with one, the log is ``log_dir`` itself.
        log_dir: inference log directory (feedback goes to ``log_dir/feedback``);
            None serves without a log (and without feedback).
        settings: limits and timings.
        log_level: uvicorn's log level.

    Raises:
        InvalidArgument: ``workers`` below 1.
        Conflict: another process already writes the inference log.
    """
    import uvicorn

    if not isinstance(workers, int) or workers < 1:
        raise InvalidArgument(f"workers must be an integer >= 1. Got {workers!r}.",
                              field="workers")
    settings = settings or GatewaySettings()
    if not is_loopback(host):
        logger.warning("The gateway has no authentication and is listening on %s; put it "
                       "behind an authenticating proxy.", host)
    if workers == 1:
        log = InferenceLog(log_dir, redact=settings.redact) if log_dir is not None else None
        try:
            # the app closes the log on shutdown: uvicorn re-raises SIGTERM after its
            # shutdown, so a ``finally`` here would not run
            app = create_gateway(context, log=log, settings=settings, owns_log=True)
            uvicorn.run(app, host=host, port=port, log_level=log_level)
        finally:
            if log is not None:
                log.close(timeout=10)
        return
    s = context.settings
    config: dict[str, Any] = {
        "home": str(s.home), "store_url": s.store_url, "artifact_url": s.artifact_url,
        "actor": s.actor, "log_dir": str(log_dir) if log_dir is not None else None,
        "gateway": dataclasses.asdict(settings),
    }
    os.environ[_ENV] = json.dumps(config)
    uvicorn.run("mlpilot.serve.gateway.server:_worker_app", factory=True, host=host,
                port=port, workers=workers, log_level=log_level)
