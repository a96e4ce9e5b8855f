"""Artifacts: upload raw bytes (streamed to disk), download verified bytes."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from fastapi import Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from mlpilot.api.auth import CallerDep
from mlpilot.api.params import Digest
from mlpilot.api.routing import resource_router
from mlpilot.api.schemas import ArtifactOut
from mlpilot.core.errors import InvalidArgument

router = resource_router("artifacts")

CHUNK = 1 << 20
_BINARY_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/octet-stream": {"schema": {"type": "string",
                                                            "format": "binary"}}},
    }
}


@router.post("/artifacts", response_model=ArtifactOut, status_code=201,
             openapi_extra=_BINARY_BODY)
async def upload_artifact(request: Request, caller: CallerDep) -> ArtifactOut:
    """Store the raw request body; returns its content digest and size.

    The body is streamed to a temporary file (never held in memory) and then
    copied into the content-addressed store; uploading the same bytes twice is
    harmless and returns the same digest.
    """
    fd, tmp = tempfile.mkstemp(prefix="mlpilot-upload-")
    try:
        with os.fdopen(fd, "wb") as out:
            async for chunk in request.stream():
                if chunk:
                    await run_in_threadpool(out.write, chunk)
        if os.path.getsize(tmp) == 0:
            raise InvalidArgument("The artifact upload is empty. Send the file's bytes as the "
                                  "request body (Content-Type: application/octet-stream).")
        ref = await run_in_threadpool(caller.artifacts.put_file, tmp)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return ArtifactOut(digest=ref.digest, size=ref.size)


@router.get("/artifacts/{digest}", response_class=StreamingResponse,
            responses={200: {"content": {"application/octet-stream": {}}}})
def download_artifact(digest: Digest, caller: CallerDep) -> StreamingResponse:
    """The artifact's bytes, verified against their sha256 before the first byte is sent.

    A tampered or truncated blob is refused with 422 ``integrity_error``.
    """
    workdir = tempfile.mkdtemp(prefix="mlpilot-download-")
    target = Path(workdir) / "blob"
    try:
        caller.artifacts.download(digest, target)
        handle = open(target, "rb")  # closed by chunks() below
    finally:
        # POSIX keeps the open file readable after unlinking: nothing is left behind,
        # even if the client disconnects half way.
        target.unlink(missing_ok=True)
        os.rmdir(workdir)
    size = os.fstat(handle.fileno()).st_size

    def chunks() -> Iterator[bytes]:
        with handle:
            while data := handle.read(CHUNK):
                yield data

    return StreamingResponse(chunks(), media_type="application/octet-stream", headers={
        "Content-Length": str(size), "ETag": f'"{digest}"',
        "Cache-Control": "private, max-age=31536000, immutable",
    })
