"""Safe handling of user-chosen artifact names (``"plots/roc.png"``) on disk.

Run artifacts are named by users and later materialized under a directory.
These helpers make sure a name can only ever spell a path *inside* that
directory, whatever encoding tricks it tries.
"""

from __future__ import annotations

import re
from pathlib import Path

from mlpilot.core.errors import InvalidArgument

MAX_NAME_LENGTH = 1024

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_DRIVE = re.compile(r"^[A-Za-z]:")
# Percent-encoded '.', '/', '\', ':', '%' (double encoding) and control characters.
_ENCODED = re.compile(r"%(2e|2f|5c|3a|25|[01][0-9a-f]|7f)", re.IGNORECASE)


def _refuse(name: str, why: str) -> InvalidArgument:
    return InvalidArgument(
        f"An artifact name must be a relative path like 'plots/roc.png' that stays "
        f"inside its directory; {why}. Got {name[:200]!r}.",
        field="name",
    )


def safe_relative_name(name: str) -> str:
    """Return ``name`` normalized to ``a/b/c`` if it is a safe relative path.

    ``.`` and empty segments are dropped (``"./a//b"`` becomes ``"a/b"``).

    Raises:
        InvalidArgument: if the name is not a string, is empty, longer than 1024
            characters, absolute, has a ``..`` segment, a NUL or control
            character, a backslash, a drive letter (``C:``), or a percent-encoded
            form of any of those (``%2e``, ``%2f``, ``%5c``, ``%3a``, ``%00``,
            and ``%25`` for double encoding).
    """
    if not isinstance(name, str):
        raise InvalidArgument(
            f"An artifact name must be a string. Got {type(name).__name__}.", field="name"
        )
    if not name:
        raise _refuse(name, "it must not be empty")
    if len(name) > MAX_NAME_LENGTH:
        raise _refuse(name, f"it must be at most {MAX_NAME_LENGTH} characters, not {len(name)}")
    if _CONTROL.search(name):
        raise _refuse(name, "it must not contain NUL or other control characters")
    if "\\" in name:
        raise _refuse(name, "it must use '/' as separator, not '\\'")
    if _ENCODED.search(name):
        raise _refuse(
            name, "it must not percent-encode '.', '/', '\\', ':', '%' or control characters"
        )
    if name.startswith("/"):
        raise _refuse(name, "it must not be absolute")
    segments = [segment for segment in name.split("/") if segment not in ("", ".")]
    if not segments:
        raise _refuse(name, "it must name a file, not the directory itself")
    for segment in segments:
        if segment == "..":
            raise _refuse(name, "it must not contain '..' segments")
        if _DRIVE.match(segment):
            raise _refuse(name, "it must not contain a drive letter such as 'C:'")
    return "/".join(segments)


def safe_join(root: str | Path, name: str) -> Path:
    """Return the path of artifact ``name`` under ``root``, refusing any escape.

    The name is checked with :func:`safe_relative_name`; then no existing
    component below ``root`` may be a symbolic link, and the resolved result
    must stay under the resolved ``root``.

    Raises:
        InvalidArgument: if the name is unsafe or a component is a symlink.
    """
    relative = safe_relative_name(name)
    base = Path(root).resolve()
    current = base
    for segment in relative.split("/"):
        current = current / segment
        if current.is_symlink():
            raise _refuse(
                name,
                f"'{current.relative_to(base)}' under {str(base)!r} is a symbolic link and "
                "artifacts are never written through links",
            )
    if not current.resolve().is_relative_to(base):
        raise _refuse(name, f"it resolves outside {str(base)!r}")
    return current
