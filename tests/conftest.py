"""Fixtures shared by every test: stores on every backend, a fresh SDK context."""

from __future__ import annotations

import os

# Two cores are shared by pytest-xdist workers: one BLAS/OpenMP thread per worker
# avoids the oversubscription that makes small fits 10x slower.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
from collections.abc import Iterator
from pathlib import Path

import pytest

from mlpilot.core.settings import Settings
from mlpilot.sdk._context import Context, set_context
from mlpilot.store import Store
from mlpilot.store.artifacts import get_artifact_store
from mlpilot.testing import temporary_store_url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty store URL on SQLite and on the PostgreSQL server."""
    with temporary_store_url(request.param, tmp_path) as url:
        yield url


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    """A migrated store on each backend."""
    s = Store.open(store_url, actor="tester")
    yield s
    s.close()


@pytest.fixture
def context(store_url: str, tmp_path: Path) -> Iterator[Context]:
    """The SDK's default context, on each backend, with artifacts under tmp_path."""
    home = tmp_path / "home"
    settings = Settings(home=home, store_url=store_url,
                        artifact_url=str(home / "artifacts"), actor="tester")
    settings.ensure_home()
    ctx = Context(settings=settings, store=Store.open(store_url, actor="tester"),
                  artifacts=get_artifact_store(settings.artifact_url))
    set_context(ctx)
    yield ctx
    set_context(None)
