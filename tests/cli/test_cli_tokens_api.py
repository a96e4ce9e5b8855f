"""``mlpilot token …``, ``mlpilot api`` and ``mlpilot demo``."""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path
from typing import Any

import pytest

from mlpilot.core.errors import Unauthenticated
from mlpilot.store import Store


def test_token_create_prints_a_working_secret_once(cli: Any, store: Store) -> None:
    result = cli.run("token", "create", "ci", "--role", "editor")
    assert result.exit_code == 0, result.output
    secret = result.stdout.strip().splitlines()[-1]
    assert store.verify_token(secret).name == "ci"
    assert store.verify_token(secret).role.value == "editor"
    assert "will not be shown again" in result.stderr
    listing = cli.ok("token", "list")
    assert "ci" in listing and "editor" in listing and "active" in listing
    assert secret not in listing


def test_token_json_list_and_revoke(cli: Any, store: Store) -> None:
    created = json.loads(cli.ok("token", "create", "bot", "--role", "ADMIN", "--json"))
    token_id, secret = created["token"]["id"], created["secret"]
    assert created["token"]["role"] == "admin"
    assert [t["id"] for t in json.loads(cli.ok("token", "list", "--json"))] == [token_id]
    assert f"Revoked API token {token_id}" in cli.ok("token", "revoke", token_id)
    with pytest.raises(Unauthenticated):
        store.verify_token(secret)
    assert json.loads(cli.ok("token", "list", "--json"))[0]["revoked"] is True
    assert "revoked" in cli.ok("token", "list")


def test_token_errors(cli: Any, home: Path) -> None:
    assert "No API token with id 'nope'" in cli.fails("token", "revoke", "nope")
    cli.fails("token", "create", "x", "--role", "owner", code=2)
    cli.fails("token", "create", "x", code=2)  # the role is required
    assert "No API tokens yet" in cli.ok("token", "list")


@pytest.fixture
def fake_server(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Replace ``mlpilot.api.server`` with a recorder; returns the calls to serve()."""
    calls: list[dict[str, Any]] = []
    module = types.ModuleType("mlpilot.api.server")

    def serve(context: Any, host: str, port: int, *, auth: bool | None = None) -> None:
        calls.append({"context": context, "host": host, "port": port, "auth": auth})

    module.serve = serve  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "mlpilot.api.server", module)
    return calls


def test_api_auth_defaults(cli: Any, home: Path, fake_server: list[dict[str, Any]]) -> None:
    result = cli.run("api")
    assert result.exit_code == 0, result.output
    assert "http://127.0.0.1:8080" in result.stderr and "authentication off" in result.stderr
    cli.ok("api", "--host", "0.0.0.0", "--port", "9000")
    cli.ok("api", "--host", "::1", "--no-auth")
    cli.ok("api", "--auth")
    assert [(c["host"], c["port"], c["auth"]) for c in fake_server] == [
        ("127.0.0.1", 8080, False), ("0.0.0.0", 9000, True), ("::1", 8080, False),
        ("127.0.0.1", 8080, True),
    ]
    assert fake_server[0]["context"].settings.home == home


@pytest.mark.parametrize("host", ["0.0.0.0", "10.1.2.3", "example.com", "::"])
def test_api_refuses_no_auth_on_exposed_host(cli: Any, host: str,
                                             fake_server: list[dict[str, Any]]) -> None:
    err = cli.fails("api", "--host", host, "--no-auth", code=2)
    assert "refusing to serve without authentication" in err
    assert fake_server == []


def test_demo_gets_the_context_and_a_console(cli: Any, home: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    import mlpilot.demo

    seen: list[Any] = []

    def run_demo(context: Any, console: Any, serving: bool = True,
                 monitoring: bool = True) -> None:
        seen.append((context, serving, monitoring))
        console.print("demo ran")

    monkeypatch.setattr(mlpilot.demo, "run_demo", run_demo, raising=False)
    assert "demo ran" in cli.ok("demo")
    assert seen[0][0].settings.home == home and seen[0][1] is True
    assert "demo ran" in cli.ok("demo", "--no-serving")
    assert seen[1][1] is False
    assert "demo ran" in cli.ok("demo", "--no-monitoring")
    assert seen[2][1:] == (True, False)
