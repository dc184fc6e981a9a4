"""Reading an HTTP answer without trusting its size."""
from __future__ import annotations

import aiohttp

CHUNK_BYTES = 64 * 1024


async def read_bounded(response: aiohttp.ClientResponse, max_bytes: int, too_large: type[Exception]) -> bytes:
    """The body, or ``too_large(max_bytes)`` raised as soon as it is known to exceed ``max_bytes``."""
    if response.content_length is not None and response.content_length > max_bytes:
        raise too_large(max_bytes)
    chunks, size = [], 0
    async for chunk in response.content.iter_chunked(CHUNK_BYTES):
        size += len(chunk)
        if size > max_bytes:
            raise too_large(max_bytes)
        chunks.append(chunk)
    return b"".join(chunks)
