"""The demo's gateway: the real serving app on a loopback port, in a background thread."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from mlpilot.core.entities import Route
from mlpilot.sdk._context import Context
from mlpilot.serve.gateway.app import create_gateway
from mlpilot.serve.gateway.settings import GatewaySettings
from mlpilot.serve.inference_log import InferenceLog

START_TIMEOUT_S = 30.0
SERVING_ROLES = ("primary", "canary")


class LocalGateway:
    """``create_gateway`` served by uvicorn on ``127.0.0.1:<free port>`` until closed.

    Use as a context manager: leaving it stops the server thread and closes the
    inference log, also when the block raised.

    Args:
        context: the stores the gateway serves from.
        log_dir: the inference-log directory (feedback goes to ``log_dir/feedback``).
        settings: the gateway's limits and timings.

    Raises:
        RuntimeError: the server did not start within ``START_TIMEOUT_S``.
        Conflict: another process writes the inference log.
    """

    def __init__(self, context: Context, log_dir: Path, settings: GatewaySettings) -> None:
        self.context = context
        self.log_dir = Path(log_dir)
        self.settings = settings
        self.log: InferenceLog | None = None
        self.url = ""
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None

    def __enter__(self) -> LocalGateway:
        try:
            self._start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def _start(self) -> None:
        import uvicorn

        self.log = InferenceLog(self.log_dir)
        self.app = create_gateway(self.context, log=self.log, settings=self.settings)
        # bind first and hand uvicorn the socket: no window for another process to take the port
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.bind(("127.0.0.1", 0))
        port = self._socket.getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        self._server = uvicorn.Server(uvicorn.Config(
            self.app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
        self._thread = threading.Thread(target=self._server.run,
                                        kwargs={"sockets": [self._socket]},
                                        name="mlpilot-demo-gateway", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("The demo gateway did not start; see the log above.")
            time.sleep(0.02)

    def close(self) -> None:
        """Stop the server thread, then close the inference log (idempotent)."""
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=15)
        self._server = self._thread = None
        if self._socket is not None:
            self._socket.close()
            self._socket = None
        if self.log is not None:
            self.log.close(timeout=10)
            self.log = None

    def flush(self) -> None:
        """Write what the gateway logged so far (predictions and feedback) to disk."""
        if self.log is not None:
            self.log.flush(timeout=10)
        feedback = self.app.state.gateway.feedback_log
        if feedback is not None:
            feedback.flush(timeout=10)

    def wait_for_routes(self, client: httpx.Client, name: str, routes: tuple[Route, ...],
                        timeout_s: float = 15.0) -> None:
        """Wait until the gateway serves ``name`` with ``routes`` (the store's desired state).

        Raises:
            RuntimeError: the gateway did not pick the routes up within ``timeout_s``.
        """
        want = sorted((r.version, round(r.weight, 6)) for r in routes
                      if r.role in SERVING_ROLES)
        deadline = time.monotonic() + timeout_s
        got: Any = None
        while time.monotonic() < deadline:
            answer = client.get(f"/v2/models/{name}")
            if answer.status_code == 200:
                got = sorted((r["version"], round(r["weight"], 6))
                             for r in answer.json()["parameters"]["routes"])
                if got == want:
                    return
            time.sleep(0.05)
        raise RuntimeError(f"The gateway still serves {name!r} with {got} after {timeout_s:g} s; "
                           f"the store wants {want}.")
