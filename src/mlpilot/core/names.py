"""One strict pattern for every user-chosen name that reaches a URL, a table or a path."""

from __future__ import annotations

import re

from mlpilot.core.errors import InvalidArgument

NAME_PATTERN = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,126}[A-Za-z0-9])?$")
ALIAS_PATTERN = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
KEY_PATTERN = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.:/ -]{0,249}$")


def validate_name(value: object, what: str = "name") -> str:
    """Return ``value`` if it is a valid model/dataset/deployment/run name.

    Names are 1-128 characters of letters, digits, ``.``, ``_`` and ``-``, start
    and end with a letter or digit, and contain no ``..``: they can never spell a
    path, a URL segment separator or a control character.

    Raises:
        InvalidArgument: naming the offending value and the rule.
    """
    if not isinstance(value, str) or not NAME_PATTERN.fullmatch(value) or ".." in value:
        raise InvalidArgument(
            f"The {what} must be 1-128 characters of letters, digits, '.', '_' or '-', "
            f"starting and ending with a letter or digit, without '..'. Got {value!r}.",
            field=what,
        )
    return value


def validate_alias(value: object) -> str:
    """Return ``value`` if it is a valid alias (``production``, ``canary``, ``champion-2``).

    Raises:
        InvalidArgument: if the alias is not lower-case letters, digits, '_' or '-',
            starting with a letter, or looks like a version number.
    """
    if not isinstance(value, str) or not ALIAS_PATTERN.fullmatch(value):
        raise InvalidArgument(
            "An alias must be 1-63 lower-case letters, digits, '_' or '-', starting with "
            f"a letter (e.g. 'production'). Got {value!r}.",
            field="alias",
        )
    if value == "latest":
        raise InvalidArgument(
            "The alias 'latest' is reserved: it always means the newest version.", field="alias"
        )
    return value


def validate_key(value: object, what: str = "key") -> str:
    """Return ``value`` if it is a valid param, metric or tag key.

    Raises:
        InvalidArgument: if the key is empty, too long, or has characters outside
            letters, digits, ``_ . : / -`` and space.
    """
    if not isinstance(value, str) or not KEY_PATTERN.fullmatch(value) or ".." in value:
        raise InvalidArgument(
            f"The {what} must be 1-250 characters of letters, digits, '_', '.', ':', '/', "
            f"'-' or space, not starting with a separator and without '..'. Got {value!r}.",
            field=what,
        )
    return value
