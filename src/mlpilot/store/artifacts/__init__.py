"""Content-addressed artifact stores: a local directory or any fsspec URL.

Example:
    >>> store = get_artifact_store("memory://doctest-artifacts")
    >>> ref = store.put_bytes(b"hello")
    >>> store.get_bytes(ref.digest)
    b'hello'
"""

from __future__ import annotations

import os
from urllib.parse import urlsplit

from mlpilot.core.errors import InvalidArgument
from mlpilot.store.artifacts._base import (
    ArtifactRef,
    ArtifactStore,
    sha256_digest,
    validate_digest,
)
from mlpilot.store.artifacts._fsspec import FsspecArtifactStore
from mlpilot.store.artifacts._local import LocalArtifactStore
from mlpilot.store.artifacts._paths import safe_join, safe_relative_name

__all__ = [
    "ArtifactRef",
    "ArtifactStore",
    "FsspecArtifactStore",
    "LocalArtifactStore",
    "get_artifact_store",
    "safe_join",
    "safe_relative_name",
    "sha256_digest",
    "validate_digest",
]


def get_artifact_store(url: str | os.PathLike[str] | ArtifactStore) -> ArtifactStore:
    """Map a path, URL or store to an :class:`ArtifactStore`.

    Plain paths and ``file://`` URLs give a :class:`LocalArtifactStore`; any
    other ``scheme://`` URL gives a :class:`FsspecArtifactStore`; a store is
    returned unchanged.

    Raises:
        InvalidArgument: if ``url`` is empty or not a string/path, or names an
            fsspec protocol whose driver is not installed.
    """
    if isinstance(url, ArtifactStore):
        return url
    if isinstance(url, os.PathLike):
        return LocalArtifactStore(url)
    if not isinstance(url, str) or not url.strip():
        raise InvalidArgument(
            "The artifact store URL must be a non-empty path or URL such as "
            f"'./artifacts' or 's3://bucket/prefix'. Got {url!r}.",
            field="artifact_url",
        )
    scheme = urlsplit(url).scheme
    if scheme == "file" or "://" not in url or len(scheme) == 1:
        return LocalArtifactStore(url)
    return FsspecArtifactStore(url)
