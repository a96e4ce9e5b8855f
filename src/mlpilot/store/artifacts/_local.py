"""Artifact store on a local (or mounted) directory."""

from __future__ import annotations

import contextlib
import os
import string
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO
from urllib.parse import urlsplit
from urllib.request import url2pathname

from mlpilot.core.errors import InvalidArgument
from mlpilot.core.fsutil import fsync_dir
from mlpilot.store.artifacts._base import ArtifactRef, ArtifactStore, copy_hashing

_HEX = frozenset(string.hexdigits.lower())


def path_from_file_url(url: str) -> Path:
    """Turn ``file:///abs/path`` (or ``file://localhost/abs/path``) into a path.

    Raises:
        InvalidArgument: if the URL names a remote host.
    """
    parts = urlsplit(url)
    if parts.netloc not in ("", "localhost"):
        raise InvalidArgument(
            f"A file:// artifact URL must point at this machine. Got host {parts.netloc!r} "
            f"in {url!r}; use file:///absolute/path or a plain path.",
            field="artifact_url",
        )
    return Path(url2pathname(parts.path))


class LocalArtifactStore(ArtifactStore):
    """Blobs as files under a directory; directories it creates are mode 0700.

    A write streams into ``<root>/tmp/`` (same filesystem as the blobs), fsyncs,
    then ``os.replace``-s the file to its final name and fsyncs the directory:
    the blob is either complete under its name or absent. Leftover temporary
    files from killed processes are never listed as blobs.

    Args:
        root: a directory path or a ``file://`` URL. It is created on first write.
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        if isinstance(root, str) and root.startswith("file:"):
            root = path_from_file_url(root)
        self.root = Path(root).expanduser().absolute()
        self.url = str(self.root)

    def _blob_path(self, hexdigest: str) -> Path:
        return self.root / "sha256" / hexdigest[:2] / hexdigest[2:]

    @staticmethod
    def _makedirs(path: Path) -> None:
        missing: list[Path] = []
        current = path
        while not current.is_dir():
            missing.append(current)
            if current.parent == current:
                break
            current = current.parent
        for directory in reversed(missing):
            try:
                directory.mkdir(mode=0o700)
            except FileExistsError:
                continue
            # mkdir's mode is filtered by the umask; make it exactly 0700.
            directory.chmod(0o700)

    def _write_blob(self, stream: BinaryIO) -> ArtifactRef:
        tmp_dir = self.root / "tmp"
        self._makedirs(tmp_dir)
        fd, tmp_name = tempfile.mkstemp(prefix=".upload-", dir=tmp_dir)
        try:
            with os.fdopen(fd, "wb") as out:
                hexdigest, size = copy_hashing(stream, out)
                out.flush()
                os.fsync(out.fileno())
            ref = ArtifactRef(digest="sha256:" + hexdigest, size=size)
            if self._blob_matches(hexdigest, size):
                return ref
            final = self._blob_path(hexdigest)
            self._makedirs(final.parent)
            os.replace(tmp_name, final)
            fsync_dir(final.parent)
            return ref
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp_name)

    def _open_blob(self, hexdigest: str) -> BinaryIO:
        return open(self._blob_path(hexdigest), "rb")

    def _blob_size(self, hexdigest: str) -> int:
        return self._blob_path(hexdigest).stat().st_size

    def _blob_exists(self, hexdigest: str) -> bool:
        return self._blob_path(hexdigest).is_file()

    def _iter_hex(self) -> Iterator[str]:
        base = self.root / "sha256"
        if not base.is_dir():
            return
        for shard in sorted(base.iterdir()):
            if len(shard.name) != 2 or not set(shard.name) <= _HEX or not shard.is_dir():
                continue
            for blob in sorted(shard.iterdir()):
                if len(blob.name) == 62 and set(blob.name) <= _HEX and blob.is_file():
                    yield shard.name + blob.name
