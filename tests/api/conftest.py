"""Fixtures for the control-plane API: a Context on SQLite (and PostgreSQL), clients."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from mlpilot.api import create_app
from mlpilot.core.settings import Settings
from mlpilot.sdk._context import Context
from mlpilot.store import Store
from mlpilot.store.artifacts import get_artifact_store
from mlpilot.testing import temporary_store_url

with warnings.catch_warnings():  # starlette nudges towards httpx2; httpx is what we ship
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

ClientFactory = Callable[..., TestClient]


def _context(url: str, tmp_path: Path) -> Context:
    settings = Settings(home=tmp_path, store_url=url, artifact_url=str(tmp_path / "artifacts"),
                        actor="test")
    return Context(settings=settings, store=Store.open(url, actor="test"),
                   artifacts=get_artifact_store(str(tmp_path / "artifacts")))


@pytest.fixture
def ctx(tmp_path: Path) -> Iterator[Context]:
    """A Context on a fresh SQLite file and a local artifact directory."""
    context = _context(f"sqlite:///{tmp_path}/m.db", tmp_path)
    yield context
    context.store.close()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def any_ctx(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Context]:
    """A Context on SQLite and on a throw-away PostgreSQL schema."""
    with temporary_store_url(request.param, tmp_path) as url:
        context = _context(url, tmp_path)
        yield context
        context.store.close()


def _factory(context: Context) -> ClientFactory:
    def make(*, auth: bool = False, token: str | None = None, **options: Any) -> TestClient:
        client = TestClient(create_app(context, auth=auth, **options),
                            raise_server_exceptions=False)
        if token is not None:
            client.headers["Authorization"] = f"Bearer {token}"
        return client

    return make


@pytest.fixture
def make_client(ctx: Context) -> ClientFactory:
    """``make_client(auth=..., token=..., max_json_bytes=...)`` on the SQLite context."""
    return _factory(ctx)


@pytest.fixture
def make_any_client(any_ctx: Context) -> ClientFactory:
    """``make_client`` on the SQLite and PostgreSQL contexts."""
    return _factory(any_ctx)


@pytest.fixture
def client(make_client: ClientFactory) -> TestClient:
    """A client with auth off (loopback development mode)."""
    return make_client()


@pytest.fixture
def role_secrets(ctx: Context) -> dict[str, str]:
    """One token secret per role, named after the role."""
    return {role: ctx.store.create_token(role, role)[1] for role in ("viewer", "editor", "admin")}


def _expect_error(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["code"] == code and body["message"] and isinstance(body["details"], dict)
    return body


def _register(client: TestClient, model: str = "credit-risk", n: int = 1) -> None:
    digest = client.post("/api/v1/artifacts", content=b"weights").json()["digest"]
    for _ in range(n):
        response = client.post(f"/api/v1/models/{model}/versions",
                               json={"format": "sklearn", "artifact_digest": digest})
        assert response.status_code == 201, response.text


@pytest.fixture
def expect_error() -> Callable[[Any, int, str], dict[str, Any]]:
    """``expect_error(response, status, code)``: assert the JSON error shape, return the body."""
    return _expect_error


@pytest.fixture
def register() -> Callable[..., None]:
    """``register(client, model="credit-risk", n=1)``: upload an artifact, register n versions."""
    return _register
