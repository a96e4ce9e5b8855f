"""The run-search filter language, compiled to SQL.

Grammar (case-insensitive keywords)::

    filter  := clause ("AND" clause)*
    clause  := ident op value
    ident   := ("metrics" | "params" | "tags") "." key | ["attributes" "."] attr
    attr    := status | name | model | run_id
    op      := = | != | < | <= | > | >= | LIKE | ILIKE
    value   := number | 'text' | "text"

Keys with spaces or dots may be back-quoted: ``metrics.`val loss` < 0.3``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, and_, exists, select
from sqlalchemy.orm import aliased

from mlpilot.core.errors import InvalidArgument
from mlpilot.store._sql.tables import LatestMetricRow, ParamRow, RunRow, TagRow

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<ident>(?:metrics|params|tags|attributes)\.(?:`[^`]+`|[\w.:/-]+)|[A-Za-z_]+)
      | (?P<op>!=|<=|>=|=|<|>)
      | (?P<str>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
      | (?P<num>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)
    )""",
    re.VERBOSE,
)
_ATTRS = {"status": RunRow.status, "name": RunRow.name, "model": RunRow.model_name,
          "run_id": RunRow.id}
_ORDER_ATTRS = {**_ATTRS, "start_time": RunRow.start_time, "end_time": RunRow.end_time}
_OPS = {"=", "!=", "<", "<=", ">", ">=", "like", "ilike"}


def _tokens(text: str) -> list[tuple[str, str]]:
    pos, out = 0, []
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise InvalidArgument(
                f"Cannot parse the run filter at character {pos}: {text[pos:pos + 20]!r}. "
                "Write clauses like \"metrics.auc > 0.8 and params.depth = '6'\"."
            )
        kind = m.lastgroup or ""
        value = m.group(kind)
        if kind == "ident" and value.lower() in ("and", "like", "ilike"):
            kind = "op" if value.lower() != "and" else "and"
            value = value.lower()
        out.append((kind, value))
        pos = m.end()
    return out


def _split_ident(ident: str) -> tuple[str, str]:
    if "." in ident:
        kind, key = ident.split(".", 1)
        return kind.lower(), key.strip("`")
    return "attributes", ident


def _compare(column: Any, op: str, value: Any) -> Any:
    if op == "like":
        return column.like(value)
    if op == "ilike":
        return column.ilike(value)
    return {"=": column == value, "!=": column != value, "<": column < value,
            "<=": column <= value, ">": column > value, ">=": column >= value}[op]


def _clause(ident: str, op: str, kind: str, raw: str) -> Any:
    scope, key = _split_ident(ident)
    value: Any = float(raw) if kind == "num" else raw[1:-1].replace("\\'", "'")
    if scope == "metrics":
        if kind != "num" or op in ("like", "ilike"):
            raise InvalidArgument(f"metrics.{key} compares with a number, e.g. > 0.5. Got {raw}.")
        return exists().where(LatestMetricRow.run_id == RunRow.id, LatestMetricRow.key == key,
                              _compare(LatestMetricRow.value, op, value))
    if kind != "str":
        raise InvalidArgument(f"{ident} compares with a quoted string, e.g. = '6'. Got {raw}.")
    if scope in ("params", "tags"):
        table = ParamRow if scope == "params" else TagRow
        return exists().where(table.run_id == RunRow.id, table.key == key,
                              _compare(table.value, op, value))
    if key.lower() not in _ATTRS:
        raise InvalidArgument(
            f"Unknown run attribute {key!r} in the filter. Available: {sorted(_ATTRS)}."
        )
    return _compare(_ATTRS[key.lower()], op, value)


def build_search(
    text: str | None, *, model: str | None = None, order_by: Sequence[str] = ()
) -> Select[tuple[RunRow]]:
    """Compile a filter and ordering into a ``SELECT`` over runs.

    Raises:
        InvalidArgument: naming the part of the filter that does not parse.
    """
    stmt = select(RunRow)
    conditions = []
    if model is not None:
        conditions.append(RunRow.model_name == model)
    tokens = _tokens(text or "")
    i = 0
    while i < len(tokens):
        part = tokens[i : i + 3]
        if (len(part) < 3 or part[0][0] != "ident" or part[1][0] != "op"
                or part[1][1].lower() not in _OPS or part[2][0] not in ("str", "num")):
            shown = " ".join(t[1] for t in part)
            raise InvalidArgument(
                f"Each run-filter clause must be 'key OP value'. Got {shown!r}. "
                "Example: \"metrics.auc > 0.8 and params.depth = '6'\"."
            )
        conditions.append(_clause(part[0][1], part[1][1].lower(), part[2][0], part[2][1]))
        i += 3
        if i < len(tokens):
            if tokens[i][0] != "and":
                raise InvalidArgument(
                    f"Run-filter clauses are joined by AND. Got {tokens[i][1]!r}.")
            i += 1
    if conditions:
        stmt = stmt.where(and_(*conditions))
    for item in order_by:
        stmt = _order(stmt, item)
    return stmt.order_by(RunRow.start_time.desc(), RunRow.id)


def _order(stmt: Select[tuple[RunRow]], item: str) -> Select[tuple[RunRow]]:
    parts = item.strip().rsplit(None, 1)
    direction = "asc"
    if len(parts) == 2 and parts[1].lower() in ("asc", "desc"):
        item, direction = parts[0], parts[1].lower()
    scope, key = _split_ident(item.strip())
    if scope == "metrics":
        latest = aliased(LatestMetricRow)
        stmt = stmt.outerjoin(latest, and_(latest.run_id == RunRow.id, latest.key == key))
        column: Any = latest.value
    elif scope in ("params", "tags"):
        table = aliased(ParamRow if scope == "params" else TagRow)
        stmt = stmt.outerjoin(table, and_(table.run_id == RunRow.id, table.key == key))
        column = table.value
    elif key.lower() in _ORDER_ATTRS:
        column = _ORDER_ATTRS[key.lower()]
    else:
        raise InvalidArgument(
            f"Cannot order runs by {item!r}. Use metrics.KEY, params.KEY, tags.KEY or one of "
            f"{sorted(_ORDER_ATTRS)}, optionally followed by ASC or DESC."
        )
    ordered = column.desc() if direction == "desc" else column.asc()
    return stmt.order_by(ordered.nulls_last())
