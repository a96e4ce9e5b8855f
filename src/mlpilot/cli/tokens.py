"""``mlpilot token create|list|revoke``: API tokens for the control plane."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.text import Text

from mlpilot.cli._context import open_context
from mlpilot.cli._output import cell, empty, new_table, out, print_json, warn
from mlpilot.core.entities import Role

token_app = typer.Typer(help="Create, list and revoke API tokens.", no_args_is_help=True)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]


@token_app.command("create")
def create(
    name: Annotated[str, typer.Argument(metavar="NAME",
                                        help="What the token is for, e.g. 'ci' or 'alice'.")],
    role: Annotated[
        Role,
        typer.Option("--role", "-r", case_sensitive=False,
                     help="viewer reads; editor also registers, aliases and deploys; "
                          "admin also manages tokens."),
    ],
    as_json: JsonOption = False,
) -> None:
    """Create a token and print its secret — once; only a hash of it is stored."""
    token, secret = open_context().store.create_token(name, role)
    if as_json:
        print_json({"token": token, "secret": secret})
    else:
        console = out()
        console.print(Text.assemble("Created API token ", (token.name, "bold"),
                                    f" (id {token.id}, role {token.role.value}):"))
        console.print(Text(secret, style="bold green"), soft_wrap=True)
    warn("Copy the secret now: it will not be shown again (mlpilot stores only its hash). "
         "Send it as 'Authorization: Bearer <secret>'.")


@token_app.command("list")
def list_(as_json: JsonOption = False) -> None:
    """List tokens (names, roles and ids; never secrets)."""
    tokens = open_context().store.list_tokens()
    if as_json:
        print_json(tokens)
        return
    if not tokens:
        empty("No API tokens yet. Create one with `mlpilot token create NAME --role ROLE`.")
        return
    table = new_table("id", "name", "role", "created", "by", "state",
                      no_wrap=["role", "state"])
    for t in tokens:
        state = cell("revoked", "red") if t.revoked else cell("active", "green")
        table.add_row(cell(t.id, "cyan"), cell(t.name, "bold"), cell(t.role.value),
                      cell(t.created_at), cell(t.created_by), state)
    out().print(table)


@token_app.command("revoke")
def revoke(token_id: Annotated[str, typer.Argument(metavar="ID", help="The token id.")]) -> None:
    """Revoke a token at once; requests carrying it are refused from now on."""
    open_context().store.revoke_token(token_id)
    out().print(Text(f"Revoked API token {token_id}."))


def register(app: typer.Typer) -> None:
    """Attach the ``token`` group to the root app."""
    app.add_typer(token_app, name="token")
