"""SQLite tuning applied to every new connection (the agent writes while the admin reads)."""

from __future__ import annotations

from typing import Any

from django.db.backends.base.base import BaseDatabaseWrapper


def configure_sqlite(*, connection: BaseDatabaseWrapper, **kwargs: Any) -> None:
    """`connection_created` receiver: WAL journal, so readers never block the writer.

    WAL is persistent in the file, but setting it per connection also covers a database
    created by someone else. In-memory test databases answer "memory"; that is fine. The busy
    timeout comes from OPTIONS["timeout"] in settings.
    """
    if connection.vendor != "sqlite":
        return
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA journal_mode=WAL")
        # NORMAL skips the fsync per commit: in WAL mode an agent crash loses nothing, a power
        # cut of the host may lose the last commits. SQLite is the embedded default; the
        # production store, PostgreSQL, keeps full durability.
        cursor.execute("PRAGMA synchronous=NORMAL")
