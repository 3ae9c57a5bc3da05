"""The Server-Sent Events stream of the live page: `LiveFeed` messages as they happen.

An async view: a stream waits on the event loop, and its ORM reads run on a thread of its
own (`_DbWorker`), with its own database connection, closed when the stream ends; so a
stream never shares a connection with the request's other code, whatever thread the
server iterates the response on. Every message carries the feed's cursor as its SSE id: the browser's
EventSource sends it back as Last-Event-ID when it reconnects (after a network blip, or when
the stream ends after `stream_seconds`), and the feed resumes after it.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Final, TypeVar

from django.db import DatabaseError, connections
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse

from . import conf
from .feed import Cursor, EventFilter, FilterError, LiveFeed, Message

logger = logging.getLogger("monitor.stream")
KEEPALIVE_SECONDS: Final = 15.0  # a comment line now and then keeps proxies from timing out
RETRY_MS: Final = 2000
T = TypeVar("T")


class _DbWorker:
    """One thread for one stream's ORM calls; `close()` drops its connection and the thread."""

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="monitor-stream")

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        # run_in_executor does not copy the caller's context: the thread has its own connection.
        return await asyncio.get_running_loop().run_in_executor(
            self._pool, functools.partial(fn, *args)
        )

    async def close(self) -> None:
        try:
            await self.run(connections.close_all)
        finally:
            self._pool.shutdown(wait=False)


async def stream(request: HttpRequest) -> HttpResponse | StreamingHttpResponse:
    """GET /stream/?device=&door=&type=all|alarm|<code>: the live feed (login required)."""
    user = await request.auser()
    if not user.is_authenticated:
        return JsonResponse({"error": "login required"}, status=401)
    try:
        filters = EventFilter.from_query(request.GET)
    except FilterError as exc:
        return JsonResponse({"error": str(exc)}, status=400)
    resume = Cursor.parse(request.headers.get("Last-Event-ID") or request.GET.get("last_event_id"))
    settings = conf.load()
    feed = LiveFeed(filters=filters, stale_after=settings.status_stale)
    response = StreamingHttpResponse(
        _events(feed, resume, settings.poll_seconds, settings.stream_seconds),
        content_type="text/event-stream",
    )
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # nginx: pass each message on at once
    return response


def encode(name: str, data: Any, cursor: Cursor) -> bytes:
    """One SSE message (JSON on a single data line)."""
    payload = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    return f"id: {cursor}\nevent: {name}\ndata: {payload}\n\n".encode()


async def _events(
    feed: LiveFeed, resume: Cursor | None, poll_seconds: float, lifetime: float
) -> AsyncIterator[bytes]:
    yield f"retry: {RETRY_MS}\n\n".encode()
    worker = _DbWorker()
    try:
        try:
            first = await worker.run(feed.start, resume)
        except DatabaseError as exc:
            logger.warning("live feed cannot start: %s", exc)
            yield encode("problem", {"error": f"database unreachable: {exc}"}, resume or Cursor())
            return  # the browser retries in RETRY_MS, with the same Last-Event-ID
        for chunk in _encode_all(first, feed):
            yield chunk
        deadline = time.monotonic() + lifetime
        quiet_since = time.monotonic()
        problem = False
        while time.monotonic() < deadline:
            await asyncio.sleep(poll_seconds)
            try:
                messages = await worker.run(feed.poll)
            except DatabaseError as exc:
                if not problem:
                    logger.warning("live feed: database error: %s", exc)
                    yield encode("problem", {"error": f"database error: {exc}"}, feed.cursor)
                problem = True
                await worker.run(connections.close_all)  # reconnect on the next poll
                continue
            if problem:
                problem = False
                yield encode("problem", {"error": ""}, feed.cursor)
            if messages:
                quiet_since = time.monotonic()
                for chunk in _encode_all(messages, feed):
                    yield chunk
            elif time.monotonic() - quiet_since >= KEEPALIVE_SECONDS:
                quiet_since = time.monotonic()
                yield b": keep-alive\n\n"
    finally:
        await worker.close()


def _encode_all(messages: list[Message], feed: LiveFeed) -> list[bytes]:
    return [encode(name, data, feed.cursor) for name, data in messages]
