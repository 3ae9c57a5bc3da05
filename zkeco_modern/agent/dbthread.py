"""All ORM work of the agent runs on one dedicated thread, serialised.

Django connections are per thread; one thread means one connection to watch and no
concurrent writers fighting over SQLite. Coroutines hand work over with `await db.run(fn)`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import ParamSpec, TypeVar

from django.db import close_old_connections, connections

P = ParamSpec("P")
T = TypeVar("T")


class DbThread:
    """A one-thread executor for ORM calls."""

    def __init__(self) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="commcenter-db")

    async def run(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """Run *fn* on the DB thread and return its result (exceptions propagate)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, partial(_fresh, fn, *args, **kwargs))

    def close(self) -> None:
        """Close the thread's DB connections and stop the thread (waits for queued work)."""
        self._executor.submit(connections.close_all).result()
        self._executor.shutdown(wait=True)


def _fresh(fn: Callable[..., T], *args: object, **kwargs: object) -> T:
    # A long-running process must drop connections the server closed (django-rq's lesson).
    close_old_connections()
    return fn(*args, **kwargs)
