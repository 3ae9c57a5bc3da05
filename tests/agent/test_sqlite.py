from __future__ import annotations

import pytest
from django.conf import settings
from django.db import connection
from django.db.utils import ConnectionHandler

from agent.sqlite import configure_sqlite


def test_file_databases_get_wal_and_a_busy_timeout(tmp_path, django_db_blocker):
    handler = ConnectionHandler(
        {
            "default": {
                "ENGINE": "django.db.backends.sqlite3",
                "NAME": str(tmp_path / "wal.sqlite3"),
                "OPTIONS": {"timeout": 20},
            }
        }
    )
    wrapper = handler["default"]
    # A private file database, not the test database: pytest-django's guard does not apply.
    with django_db_blocker.unblock():
        try:
            with wrapper.cursor() as cursor:  # connection_created fires here
                cursor.execute("PRAGMA journal_mode")
                assert cursor.fetchone()[0] == "wal"
                cursor.execute("PRAGMA busy_timeout")
                assert cursor.fetchone()[0] == 20_000
        finally:
            wrapper.close()


def test_project_sqlite_options():
    options = settings.DATABASES["default"].get("OPTIONS", {})
    if connection.vendor != "sqlite":
        pytest.skip("the project runs on another database")
    assert options["timeout"] == 20
    assert options["transaction_mode"] == "IMMEDIATE"


def test_other_vendors_are_left_alone():
    class Other:
        vendor = "postgresql"

        def cursor(self):
            raise AssertionError("must not touch a non-SQLite connection")

    configure_sqlite(connection=Other())  # type: ignore[arg-type]
