"""Behaviour of the content-addressed artifact stores and safe artifact names."""

from __future__ import annotations

import hashlib
import os
import stat
import sys
import threading
import uuid
from pathlib import Path

import pytest

from mlpilot.core.errors import IntegrityError, InvalidArgument, NotFound
from mlpilot.store.artifacts import (
    ArtifactRef,
    ArtifactStore,
    FsspecArtifactStore,
    LocalArtifactStore,
    _local,
    get_artifact_store,
    safe_join,
    safe_relative_name,
    sha256_digest,
    validate_digest,
)

MISSING = "sha256:" + "0" * 64


@pytest.fixture(params=["local", "memory"])
def artifact_store(request: pytest.FixtureRequest, tmp_path: Path) -> ArtifactStore:
    if request.param == "local":
        return LocalArtifactStore(tmp_path / "artifacts")
    return FsspecArtifactStore(f"memory://mlpilot-test-{uuid.uuid4().hex}/artifacts")


def _read_raw(store: ArtifactStore, digest: str) -> bytes:
    hexdigest = validate_digest(digest)
    if isinstance(store, LocalArtifactStore):
        return store._blob_path(hexdigest).read_bytes()
    assert isinstance(store, FsspecArtifactStore)
    return store.fs.cat_file(store._blob_path(hexdigest))


def _write_raw(store: ArtifactStore, digest: str, data: bytes) -> None:
    """Overwrite the stored blob behind the store's back (tampering)."""
    hexdigest = validate_digest(digest)
    if isinstance(store, LocalArtifactStore):
        store._blob_path(hexdigest).write_bytes(data)
    else:
        assert isinstance(store, FsspecArtifactStore)
        store.fs.pipe_file(store._blob_path(hexdigest), data)


# -- round trips -------------------------------------------------------------------


def test_put_get_round_trip(artifact_store: ArtifactStore) -> None:
    data = b"model bytes \x00\xff" * 100
    ref = artifact_store.put_bytes(data)
    assert ref == ArtifactRef(digest=sha256_digest(data), size=len(data))
    assert ref.digest == "sha256:" + hashlib.sha256(data).hexdigest()
    assert artifact_store.get_bytes(ref.digest) == data
    assert artifact_store.exists(ref.digest)
    assert artifact_store.size(ref.digest) == len(data)
    assert list(artifact_store.iter_digests()) == [ref.digest]


def test_empty_blob_round_trip(artifact_store: ArtifactStore) -> None:
    ref = artifact_store.put_bytes(b"")
    assert ref.size == 0
    assert artifact_store.get_bytes(ref.digest) == b""


def test_same_content_is_stored_once(artifact_store: ArtifactStore) -> None:
    first = artifact_store.put_bytes(b"same")
    second = artifact_store.put_bytes(bytearray(b"same"))
    other = artifact_store.put_bytes(b"other")
    assert first == second
    assert sorted(artifact_store.iter_digests()) == sorted({first.digest, other.digest})


def test_put_file_streams_large_file_and_download(
    artifact_store: ArtifactStore, tmp_path: Path
) -> None:
    source = tmp_path / "big.bin"
    data = os.urandom(3 * 1024 * 1024 + 17)  # several chunks
    source.write_bytes(data)
    ref = artifact_store.put_file(source)
    assert ref == ArtifactRef(sha256_digest(data), len(data))
    dest = artifact_store.download(ref.digest, tmp_path / "out" / "copy.bin")
    assert dest.read_bytes() == data
    assert artifact_store.put_file(str(source)) == ref


def test_put_file_missing_path_raises_not_found(
    artifact_store: ArtifactStore, tmp_path: Path
) -> None:
    with pytest.raises(NotFound, match="existing regular file"):
        artifact_store.put_file(tmp_path / "nope.bin")


def test_put_bytes_rejects_non_bytes(artifact_store: ArtifactStore) -> None:
    with pytest.raises(InvalidArgument, match="needs bytes"):
        artifact_store.put_bytes("text")  # type: ignore[arg-type]


def test_concurrent_writes_of_same_content(artifact_store: ArtifactStore) -> None:
    data = os.urandom(200_000)
    refs: list[ArtifactRef] = []

    def write() -> None:
        refs.append(artifact_store.put_bytes(data))

    threads = [threading.Thread(target=write) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(refs)) == 1
    assert list(artifact_store.iter_digests()) == [refs[0].digest]
    assert artifact_store.get_bytes(refs[0].digest) == data


# -- integrity -----------------------------------------------------------------------


def test_tampered_blob_is_refused_naming_both_hashes(artifact_store: ArtifactStore) -> None:
    data = b"weights" * 1000
    ref = artifact_store.put_bytes(data)
    raw = bytearray(_read_raw(artifact_store, ref.digest))
    raw[10] ^= 0x01
    _write_raw(artifact_store, ref.digest, bytes(raw))
    actual = sha256_digest(bytes(raw))
    with pytest.raises(IntegrityError) as info:
        artifact_store.get_bytes(ref.digest, name="credit-risk/3")
    message = str(info.value)
    assert "credit-risk/3" in message
    assert ref.digest in message and actual in message
    assert info.value.details == {
        "artifact": "credit-risk/3",
        "expected": ref.digest,
        "actual": actual,
    }


def test_truncated_blob_is_refused_and_named_by_digest(artifact_store: ArtifactStore) -> None:
    data = b"0123456789" * 50
    ref = artifact_store.put_bytes(data)
    _write_raw(artifact_store, ref.digest, data[:-7])
    with pytest.raises(IntegrityError) as info:
        artifact_store.get_bytes(ref.digest)
    assert str(info.value).count(ref.digest) >= 2  # the name and the expected hash
    assert sha256_digest(data[:-7]) in str(info.value)


def test_download_of_tampered_blob_leaves_no_file(
    artifact_store: ArtifactStore, tmp_path: Path
) -> None:
    ref = artifact_store.put_bytes(b"abc" * 100)
    _write_raw(artifact_store, ref.digest, b"evil")
    dest = tmp_path / "model.bin"
    with pytest.raises(IntegrityError, match=sha256_digest(b"evil")):
        artifact_store.download(ref.digest, dest, name="model")
    assert not dest.exists()
    assert {p.name for p in tmp_path.iterdir()} <= {"artifacts"}  # no temp file left


def test_rewriting_good_content_heals_a_corrupted_blob(artifact_store: ArtifactStore) -> None:
    data = b"x" * 64
    ref = artifact_store.put_bytes(data)
    _write_raw(artifact_store, ref.digest, b"y" * 64)  # same size, wrong content
    assert artifact_store.put_bytes(data) == ref
    assert artifact_store.get_bytes(ref.digest) == data


# -- missing and malformed digests --------------------------------------------------


def test_missing_blob_raises_not_found(artifact_store: ArtifactStore, tmp_path: Path) -> None:
    assert not artifact_store.exists(MISSING)
    with pytest.raises(NotFound, match="not in the artifact store"):
        artifact_store.get_bytes(MISSING)
    with pytest.raises(NotFound, match="'my-model'"):
        artifact_store.get_bytes(MISSING, name="my-model")
    with pytest.raises(NotFound):
        artifact_store.size(MISSING)
    with pytest.raises(NotFound):
        artifact_store.download(MISSING, tmp_path / "x.bin")
    assert not (tmp_path / "x.bin").exists()


@pytest.mark.parametrize(
    "digest",
    [
        "sha256:../../etc/passwd",
        "sha256:" + "a" * 63,
        "sha256:" + "a" * 65,
        "sha256:" + "A" * 64,
        "sha256:" + "g" * 64,
        "md5:" + "a" * 32,
        "a" * 64,
        "sha256:" + "a" * 64 + "\n",
        " sha256:" + "a" * 64,
        "sha256:" + "a" * 62 + "/.",
        "",
        None,
        42,
    ],
)
def test_malformed_digests_are_rejected(artifact_store: ArtifactStore, digest: object) -> None:
    for call in (artifact_store.get_bytes, artifact_store.exists, artifact_store.size):
        with pytest.raises(InvalidArgument, match="64 lower-case hex"):
            call(digest)  # type: ignore[arg-type]


# -- atomicity and layout --------------------------------------------------------------


def test_failed_write_leaves_no_blob_and_no_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = LocalArtifactStore(tmp_path / "a")

    def crash(src: str, dst: str) -> None:
        raise OSError("simulated crash before rename")

    monkeypatch.setattr(_local.os, "replace", crash)
    with pytest.raises(OSError, match="simulated crash"):
        store.put_bytes(b"payload")
    monkeypatch.undo()
    assert list(store.iter_digests()) == []
    assert list((tmp_path / "a" / "tmp").iterdir()) == []


def test_failed_read_of_source_stream_leaves_nothing(artifact_store: ArtifactStore) -> None:
    class Broken:
        def __init__(self) -> None:
            self.calls = 0

        def read(self, n: int = -1) -> bytes:
            self.calls += 1
            if self.calls > 1:
                raise OSError("disk went away")
            return b"partial"

    with pytest.raises(OSError, match="disk went away"):
        artifact_store._write_blob(Broken())  # type: ignore[arg-type]
    assert list(artifact_store.iter_digests()) == []


def test_local_layout_and_permissions(tmp_path: Path) -> None:
    root = tmp_path / "deep" / "artifacts"
    store = LocalArtifactStore(root)
    ref = store.put_bytes(b"layout")
    hexdigest = ref.digest.removeprefix("sha256:")
    blob = root / "sha256" / hexdigest[:2] / hexdigest[2:]
    assert blob.read_bytes() == b"layout"
    if sys.platform != "win32":
        for directory in (tmp_path / "deep", root, root / "sha256", blob.parent):
            assert stat.S_IMODE(directory.stat().st_mode) == 0o700, directory
    # Stray files are never reported as blobs.
    (blob.parent / "notes.txt").write_text("x")
    (root / "sha256" / "zz").mkdir()
    assert list(store.iter_digests()) == [ref.digest]


# -- choosing a backend ----------------------------------------------------------------


def test_get_artifact_store_picks_backend_by_scheme(tmp_path: Path) -> None:
    local = get_artifact_store(str(tmp_path / "plain"))
    assert isinstance(local, LocalArtifactStore) and local.root == tmp_path / "plain"
    from_url = get_artifact_store((tmp_path / "viaurl").as_uri())
    assert isinstance(from_url, LocalArtifactStore) and from_url.root == tmp_path / "viaurl"
    assert isinstance(get_artifact_store(tmp_path / "pathlike"), LocalArtifactStore)
    memory = get_artifact_store("memory://picks-backend")
    assert isinstance(memory, FsspecArtifactStore)
    assert get_artifact_store(memory) is memory


@pytest.mark.parametrize("url", ["", "   ", None, 3])
def test_get_artifact_store_rejects_empty(url: object) -> None:
    with pytest.raises(InvalidArgument, match="non-empty path or URL"):
        get_artifact_store(url)  # type: ignore[arg-type]


def test_get_artifact_store_rejects_unknown_protocol_and_remote_file_host() -> None:
    with pytest.raises(InvalidArgument, match="not available"):
        get_artifact_store("nosuchproto://bucket/x")
    with pytest.raises(InvalidArgument, match="this machine"):
        get_artifact_store("file://otherhost/srv/artifacts")


def test_stores_sharing_a_root_see_each_others_blobs(tmp_path: Path) -> None:
    ref = get_artifact_store(str(tmp_path)).put_bytes(b"shared")
    assert get_artifact_store(tmp_path.as_uri()).get_bytes(ref.digest) == b"shared"
    url = f"memory://shared-{uuid.uuid4().hex}"
    ref2 = get_artifact_store(url).put_bytes(b"shared")
    assert get_artifact_store(url).get_bytes(ref2.digest) == b"shared"


# -- safe artifact names -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("plots/roc.png", "plots/roc.png"),
        ("./plots//roc.png", "plots/roc.png"),
        ("model.skops", "model.skops"),
        ("a/b.c/..d/e..f", "a/b.c/..d/e..f"),
        ("metrics:v1.json", "metrics:v1.json"),
        ("100% done.txt", "100% done.txt"),
        ("é/データ.csv", "é/データ.csv"),
    ],
)
def test_safe_relative_name_accepts_and_normalizes(name: str, expected: str) -> None:
    assert safe_relative_name(name) == expected


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("", "empty"),
        ("/", "absolute"),
        (".", "directory itself"),
        ("./", "directory itself"),
        ("../x", r"'\.\.'"),
        ("..", r"'\.\.'"),
        ("/etc/passwd", "absolute"),
        ("a/../../b", r"'\.\.'"),
        ("a/..", r"'\.\.'"),
        ("a\\b", "separator"),
        ("..\\x", "separator"),
        ("C:x", "drive letter"),
        ("c:/windows", "drive letter"),
        ("a/D:x", "drive letter"),
        ("a\x00b", "control"),
        ("a\nb", "control"),
        ("a\x7fb", "control"),
        ("%2e%2e/x", "percent-encode"),
        ("%2E%2E/x", "percent-encode"),
        ("a%2fb", "percent-encode"),
        ("a%2F..%2Fb", "percent-encode"),
        ("a%00b", "percent-encode"),
        ("a%5cb", "percent-encode"),
        ("C%3ax", "percent-encode"),
        ("%252e%252e/x", "percent-encode"),
        ("x" * 1025, "at most 1024"),
    ],
)
def test_safe_relative_name_refuses(name: str, reason: str) -> None:
    with pytest.raises(InvalidArgument, match=reason):
        safe_relative_name(name)


def test_safe_relative_name_refuses_non_strings() -> None:
    with pytest.raises(InvalidArgument, match="must be a string"):
        safe_relative_name(b"a")  # type: ignore[arg-type]


def test_safe_join_stays_under_root(tmp_path: Path) -> None:
    assert safe_join(tmp_path, "plots/roc.png") == tmp_path.resolve() / "plots" / "roc.png"
    assert safe_join(str(tmp_path), "./a//b") == tmp_path.resolve() / "a" / "b"


@pytest.mark.parametrize(
    "name", ["../x", "/etc/passwd", "a/../../b", "a\\b", "C:x", "a\x00b", "%2e%2e/x"]
)
def test_safe_join_refuses_traversal(tmp_path: Path, name: str) -> None:
    with pytest.raises(InvalidArgument, match="stays inside its directory"):
        safe_join(tmp_path, name)


@pytest.mark.skipif(sys.platform == "win32", reason="symlinks need privileges on Windows")
def test_safe_join_refuses_symlinks(tmp_path: Path) -> None:
    root = tmp_path / "root"
    outside = tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (root / "escape").symlink_to(outside)
    (root / "inner").mkdir()
    (root / "alias").symlink_to(root / "inner")
    (root / "file-link").symlink_to(outside / "target.txt")
    for name in ("escape/x.txt", "escape", "alias/x.txt", "file-link"):
        with pytest.raises(InvalidArgument, match="symbolic link"):
            safe_join(root, name)
    assert not (outside / "x.txt").exists()
    assert safe_join(root, "inner/x.txt") == root.resolve() / "inner" / "x.txt"
