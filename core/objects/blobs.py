"""Files kept by content hash: what clients upload once and containers fetch by hash.

Image builds keep the files clients upload under ``<data dir>/images/blobs/<sha256>``
(``image.put_file`` checks each against its hash). Functions' own source files, shipped to
cloud machines (see :mod:`strato._source`), are kept there too: a client asks which hashes
are missing (``blob.missing``) and uploads only those, and a container fetches each file with
``GET /v1/blobs/{sha256}`` and its own token.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter
from fastapi.responses import FileResponse

from strato.core.objects import ROUTERS, RPC
from strato.exception import InvalidError, NotFoundError

_SHA = re.compile(r"[0-9a-f]{64}")


def blob_path(sha: str) -> Any:
    """Where the file of hash ``sha`` is kept (whether or not it is there)."""
    from strato.core.objects.images import images_root

    if not isinstance(sha, str) or not _SHA.fullmatch(sha):
        raise InvalidError(f"invalid content hash {sha!r}")
    return images_root() / "blobs" / sha


def _missing(plane: Any, params: dict[str, Any]) -> list[str]:
    shas = params.get("shas") or []
    if not isinstance(shas, list) or len(shas) > 100_000:
        raise InvalidError("blob.missing needs `shas`: a list of sha256 hex digests")
    return [sha for sha in shas if not blob_path(sha).is_file()]


RPC["blob.missing"] = _missing

router = APIRouter()


@router.get("/blobs/{sha}")
async def _get_blob(sha: str) -> FileResponse:
    path = blob_path(sha)
    if not path.is_file():
        raise NotFoundError(f"no file of hash {sha} is kept here")
    return FileResponse(path, media_type="application/octet-stream")


ROUTERS.append(router)
