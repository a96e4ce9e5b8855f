"""Artifact store on any fsspec filesystem (S3, GCS, Azure, memory, ...)."""

from __future__ import annotations

import contextlib
import string
import uuid
from collections.abc import Iterator
from typing import Any, BinaryIO

from mlpilot.core.errors import InvalidArgument
from mlpilot.store.artifacts._base import ArtifactRef, ArtifactStore, copy_hashing

_HEX = frozenset(string.hexdigits.lower())


class FsspecArtifactStore(ArtifactStore):
    """Blobs as objects under an fsspec URL such as ``s3://bucket/mlpilot``.

    A write streams to ``<root>/tmp/<uuid>`` and is then moved to its final
    name. On object stores an object only becomes visible once its upload
    completes, and the move is a server-side copy, so readers never see a
    partial blob under a final name.

    Args:
        url: any URL fsspec understands (``memory://``, ``s3://``, ``gs://`` ...).
        **storage_options: passed to the fsspec filesystem (credentials, endpoint).

    Raises:
        InvalidArgument: if fsspec does not know the protocol or its driver
            package is not installed.
    """

    def __init__(self, url: str, **storage_options: Any) -> None:
        import fsspec

        try:
            self.fs, path = fsspec.core.url_to_fs(url, **storage_options)
        except (ImportError, ValueError) as exc:
            raise InvalidArgument(
                f"The artifact store URL {url!r} needs an fsspec filesystem that is not "
                f"available: {exc}. Install its driver (e.g. 's3fs' for s3://) or use a "
                "local path.",
                field="artifact_url",
            ) from exc
        self._root = path.rstrip("/")
        self.url = url

    def _blob_path(self, hexdigest: str) -> str:
        return f"{self._root}/sha256/{hexdigest[:2]}/{hexdigest[2:]}"

    def _makedirs(self, path: str) -> None:
        # Object stores have no directories; local-like backends need them.
        with contextlib.suppress(OSError, NotImplementedError):
            self.fs.makedirs(path, exist_ok=True)

    def _write_blob(self, stream: BinaryIO) -> ArtifactRef:
        tmp_dir = f"{self._root}/tmp"
        tmp = f"{tmp_dir}/.upload-{uuid.uuid4().hex}"
        self._makedirs(tmp_dir)
        try:
            with self.fs.open(tmp, "wb") as out:
                hexdigest, size = copy_hashing(stream, out)
            ref = ArtifactRef(digest="sha256:" + hexdigest, size=size)
            if not self._blob_matches(hexdigest, size):
                final = self._blob_path(hexdigest)
                self._makedirs(final.rsplit("/", 1)[0])
                self.fs.mv(tmp, final)
            return ref
        finally:
            with contextlib.suppress(FileNotFoundError):
                if self.fs.exists(tmp):
                    self.fs.rm(tmp)

    def _open_blob(self, hexdigest: str) -> BinaryIO:
        return self.fs.open(self._blob_path(hexdigest), "rb")

    def _blob_size(self, hexdigest: str) -> int:
        return int(self.fs.size(self._blob_path(hexdigest)))

    def _blob_exists(self, hexdigest: str) -> bool:
        return bool(self.fs.isfile(self._blob_path(hexdigest)))

    def _iter_hex(self) -> Iterator[str]:
        base = f"{self._root}/sha256"
        try:
            paths = self.fs.find(base)
        except FileNotFoundError:
            return
        found = []
        for path in paths:
            parts = str(path).rstrip("/").split("/")
            if len(parts) < 2:
                continue
            shard, rest = parts[-2], parts[-1]
            if len(shard) == 2 and len(rest) == 62 and set(shard + rest) <= _HEX:
                found.append(shard + rest)
        yield from sorted(found)
