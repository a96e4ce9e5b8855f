"""The artifact store contract: content-addressed blobs, verified on every read."""

from __future__ import annotations

import abc
import hashlib
import io
import os
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from mlpilot.core.errors import IntegrityError, InvalidArgument, NotFound

CHUNK_SIZE = 1 << 20
DIGEST_PATTERN = re.compile(r"^sha256:([0-9a-f]{64})$")


@dataclass(frozen=True)
class ArtifactRef:
    """Where a blob lives in an artifact store: its content hash and its length.

    Attributes:
        digest: ``"sha256:"`` followed by 64 lower-case hex digits.
        size: length of the blob in bytes.
    """

    digest: str
    size: int


def validate_digest(digest: object) -> str:
    """Return the 64 hex digits of ``digest`` if it is a well-formed sha256 digest.

    Only ``sha256:`` followed by exactly 64 lower-case hex digits passes, which is
    also what keeps a caller-supplied digest from spelling a path outside the store.

    Raises:
        InvalidArgument: if ``digest`` is not a string of that form.
    """
    match = DIGEST_PATTERN.fullmatch(digest) if isinstance(digest, str) else None
    if match is None:
        shown = digest if not isinstance(digest, str) else digest[:100]
        raise InvalidArgument(
            "An artifact digest must be 'sha256:' followed by 64 lower-case hex digits. "
            f"Got {shown!r}.",
            field="digest",
        )
    return match.group(1)


def sha256_digest(data: bytes) -> str:
    """The ``"sha256:<hex>"`` digest of ``data``."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


def copy_hashing(src: BinaryIO, dst: BinaryIO | None = None) -> tuple[str, int]:
    """Copy ``src`` to ``dst`` (if given) in chunks; return ``(hex sha256, size)``."""
    hasher = hashlib.sha256()
    size = 0
    while chunk := src.read(CHUNK_SIZE):
        hasher.update(chunk)
        size += len(chunk)
        if dst is not None:
            dst.write(chunk)
    return hasher.hexdigest(), size


def integrity_error(name: str, expected: str, actual: str, size: int) -> IntegrityError:
    """Build the error raised when stored bytes do not hash to their digest."""
    return IntegrityError(
        f"Artifact {name!r} failed its integrity check: its content must hash to "
        f"{expected}, but the stored bytes ({size} bytes) hash to {actual}. The blob "
        "was tampered with or truncated; restore it from a backup or upload it again.",
        artifact=name,
        expected=expected,
        actual=actual,
    )


class ArtifactStore(abc.ABC):
    """A content-addressed store of immutable blobs.

    Blobs are named by the sha256 of their content and laid out as
    ``<root>/sha256/<first 2 hex>/<remaining 62 hex>``. Writing the same content
    twice stores it once and returns the same :class:`ArtifactRef`. Writes are
    atomic: a blob appears under its final name only once it is complete, so a
    process killed mid-write never leaves a partial blob behind. Every read is
    verified against the digest it was asked for.

    Thread safety: every public method may be called concurrently from many
    threads and processes sharing one root; concurrent writes of the same
    content are harmless because they produce identical bytes.

    Implementations provide the private hooks (``_write_blob``, ``_open_blob``,
    ``_blob_size``, ``_blob_exists``, ``_iter_hex``); this class validates
    digests, translates missing blobs into :class:`NotFound` and verifies hashes,
    so every backend behaves the same.
    """

    #: Human-readable location of the store, used in messages.
    url: str

    # -- writing ---------------------------------------------------------------

    def put_bytes(self, data: bytes) -> ArtifactRef:
        """Store ``data`` and return its reference.

        Raises:
            InvalidArgument: if ``data`` is not bytes-like.
            OSError: if the backend cannot be written.
        """
        if not isinstance(data, bytes | bytearray | memoryview):
            raise InvalidArgument(
                f"put_bytes needs bytes. Got {type(data).__name__}; use put_file for paths.",
                field="data",
            )
        return self._write_blob(io.BytesIO(bytes(data)))

    def put_file(self, path: str | os.PathLike[str]) -> ArtifactRef:
        """Stream the file at ``path`` into the store, hashing while copying.

        Raises:
            NotFound: if ``path`` is not an existing regular file.
            OSError: if the file cannot be read or the backend cannot be written.
        """
        source = Path(path)
        if not source.is_file():
            raise NotFound(
                f"put_file needs an existing regular file. {str(source)!r} is not one; "
                "check the path.",
                path=str(source),
            )
        with open(source, "rb") as stream:
            return self._write_blob(stream)

    # -- reading ---------------------------------------------------------------

    def get_bytes(self, digest: str, *, name: str | None = None) -> bytes:
        """Read the blob ``digest`` and verify its sha256 before returning it.

        Args:
            digest: ``"sha256:<64 hex>"``.
            name: what to call the artifact in error messages (defaults to the digest).

        Raises:
            InvalidArgument: if ``digest`` is malformed.
            NotFound: if no blob has that digest.
            IntegrityError: if the stored bytes do not hash to ``digest``.
        """
        hexdigest = validate_digest(digest)
        buffer = io.BytesIO()
        with self._open(hexdigest, name or digest) as stream:
            actual, size = copy_hashing(stream, buffer)
        if actual != hexdigest:
            raise integrity_error(name or digest, digest, "sha256:" + actual, size)
        return buffer.getvalue()

    def download(
        self, digest: str, dest: str | os.PathLike[str], *, name: str | None = None
    ) -> Path:
        """Stream the blob ``digest`` to ``dest``, verifying it on the way.

        The bytes go to a temporary file beside ``dest`` that replaces ``dest``
        only once the hash matches; on a mismatch the temporary file is removed,
        so ``dest`` never holds unverified content.

        Returns:
            The path written.

        Raises:
            InvalidArgument: if ``digest`` is malformed.
            NotFound: if no blob has that digest.
            IntegrityError: if the stored bytes do not hash to ``digest``.
            OSError: if ``dest`` cannot be written.
        """
        hexdigest = validate_digest(digest)
        target = Path(dest)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
        try:
            with os.fdopen(fd, "wb") as out, self._open(hexdigest, name or digest) as stream:
                actual, size = copy_hashing(stream, out)
            if actual != hexdigest:
                raise integrity_error(name or digest, digest, "sha256:" + actual, size)
            os.replace(tmp_name, target)
        finally:
            Path(tmp_name).unlink(missing_ok=True)
        return target

    def exists(self, digest: str) -> bool:
        """True if a blob with ``digest`` is stored (its content is not verified).

        Raises:
            InvalidArgument: if ``digest`` is malformed.
        """
        return self._blob_exists(validate_digest(digest))

    def size(self, digest: str) -> int:
        """The stored length of the blob ``digest`` in bytes.

        Raises:
            InvalidArgument: if ``digest`` is malformed.
            NotFound: if no blob has that digest.
        """
        hexdigest = validate_digest(digest)
        try:
            return self._blob_size(hexdigest)
        except FileNotFoundError as exc:
            raise self._not_found(digest) from exc

    def iter_digests(self) -> Iterator[str]:
        """Yield the digest of every stored blob, in sorted order.

        Temporary files of writes in progress are never yielded.
        """
        for hexdigest in self._iter_hex():
            yield "sha256:" + hexdigest

    # -- helpers for implementations ---------------------------------------------

    def _open(self, hexdigest: str, name: str) -> BinaryIO:
        try:
            return self._open_blob(hexdigest)
        except FileNotFoundError as exc:
            raise self._not_found(name) from exc

    def _not_found(self, name: str) -> NotFound:
        return NotFound(
            f"Artifact {name!r} is not in the artifact store at {self.url}. Check the "
            "digest, or that this process uses the same artifact store "
            "(MLPILOT_ARTIFACT_URL) as the one that wrote it.",
            artifact=name,
        )

    def _blob_matches(self, hexdigest: str, size: int) -> bool:
        """True if a blob is stored under ``hexdigest`` with that size and hash."""
        try:
            if self._blob_size(hexdigest) != size:
                return False
            with self._open_blob(hexdigest) as stream:
                return copy_hashing(stream)[0] == hexdigest
        except FileNotFoundError:
            return False

    # -- backend hooks -------------------------------------------------------------

    @abc.abstractmethod
    def _write_blob(self, stream: BinaryIO) -> ArtifactRef:
        """Copy ``stream`` into the store atomically and return its reference."""

    @abc.abstractmethod
    def _open_blob(self, hexdigest: str) -> BinaryIO:
        """Open the blob for binary reading; raise FileNotFoundError if absent."""

    @abc.abstractmethod
    def _blob_size(self, hexdigest: str) -> int:
        """The blob's length; raise FileNotFoundError if absent."""

    @abc.abstractmethod
    def _blob_exists(self, hexdigest: str) -> bool:
        """True if the blob is stored."""

    @abc.abstractmethod
    def _iter_hex(self) -> Iterator[str]:
        """Yield the hex digest of every stored blob, sorted."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.url!r})"
