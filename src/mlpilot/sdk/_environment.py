"""What a run captures about where it ran: code version and environment (cached per process)."""

from __future__ import annotations

import functools
import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any


@functools.lru_cache(maxsize=8)
def code_version(cwd: str | None = None) -> dict[str, Any]:
    """Git commit and dirty flag of the working directory, or ``{}`` outside a repository."""
    where = cwd or os.getcwd()

    def git(*args: str) -> str | None:
        try:
            out = subprocess.run(["git", *args], cwd=where, capture_output=True, text=True,
                                 timeout=5, check=False)
        except (OSError, subprocess.SubprocessError):
            return None
        return out.stdout.strip() if out.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    if not commit:
        return {}
    status = git("status", "--porcelain", "--untracked-files=no")
    entry = Path(sys.argv[0]).name if sys.argv and sys.argv[0] else None
    return {"git_commit": commit, "git_dirty": bool(status), "entry_point": entry}


@functools.lru_cache(maxsize=1)
def environment() -> dict[str, Any]:
    """Python, platform and installed package versions."""
    packages = {}
    for dist in metadata.distributions():
        name = dist.metadata.get("Name")
        if name:
            packages[name.lower()] = dist.version
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "packages": dict(sorted(packages.items())),
    }
