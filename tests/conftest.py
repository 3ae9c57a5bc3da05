"""Suite-wide hooks.

Database availability: when DATABASE_URL points at PostgreSQL and the server cannot be
reached, the tests that need the database are skipped with the reason locally, and the run
stops with an error when CI is set (a CI run must exercise the production engine).
"""

from __future__ import annotations

import os
from typing import Any

import pytest

_DB_FIXTURES = frozenset(
    {"db", "transactional_db", "django_db_setup", "admin_client", "admin_user", "django_user_model"}
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    needs_db = [item for item in items if _needs_database(item)]
    if not needs_db:
        return
    reason = _postgres_unreachable(os.environ.get("DATABASE_URL", ""))
    if reason is None:
        return
    if os.environ.get("CI"):
        pytest.exit(f"CI is set but PostgreSQL is unreachable: {reason}", returncode=3)
    skip = pytest.mark.skip(reason=f"PostgreSQL unreachable: {reason}")
    for item in needs_db:
        item.add_marker(skip)


def _needs_database(item: pytest.Item) -> bool:
    if item.get_closest_marker("django_db") or item.get_closest_marker("postgres"):
        return True
    return bool(_DB_FIXTURES.intersection(getattr(item, "fixturenames", ())))


def _postgres_unreachable(url: str) -> str | None:
    """None when *url* is not PostgreSQL or the server answers; otherwise why not."""
    if not url.startswith(("postgres://", "postgresql://", "pgsql://")):
        return None
    import dj_database_url  # noqa: PLC0415 (only needed for PostgreSQL runs)
    import psycopg  # noqa: PLC0415

    db = dj_database_url.parse(url)
    params: dict[str, Any] = {
        "host": db.get("HOST") or None,
        "port": db.get("PORT") or None,
        "user": db.get("USER") or None,
        "password": db.get("PASSWORD") or None,
        "connect_timeout": 3,
    }
    error: Exception | None = None
    # pytest-django creates test_<name> from the maintenance database; either one will do.
    for dbname in ("postgres", db.get("NAME") or "postgres"):
        try:
            psycopg.connect(dbname=dbname, **params).close()
        except psycopg.Error as exc:
            error = exc
        else:
            return None
    # Never show the password that the URL may carry.
    return f"{db.get('HOST') or 'localhost'}:{db.get('PORT') or 5432}: {str(error).strip()}"
