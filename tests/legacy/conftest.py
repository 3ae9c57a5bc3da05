"""A real MariaDB holding the ZKECO tables (fixtures/zkeco_schema.sql), as alias "legacy".

The alias points at the database legacy_test_<pid>, which the test runner creates for the
tests that ask for it (`LEGACY_DB_MARK`) and drops at the end; `legacy_db` creates the ZKECO
tables from the documented schema for each test and drops them after it. When MariaDB is
unreachable the tests skip with the reason on a developer machine and the run stops with
an error when CI is set. The server comes from LEGACY_TEST_MARIADB_URL (default
mysql://root@127.0.0.1:3306/).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dj_database_url
import pymysql  # type: ignore[import-untyped]
import pytest
from django.db import connections

pymysql.install_as_MySQLdb()  # before Django imports its mysql backend

SCHEMA = Path(__file__).parent / "fixtures" / "zkeco_schema.sql"
ALIAS = "legacy"


@dataclass
class LegacyDb:
    """The test's legacy database: run SQL on it directly, outside Django."""

    name: str
    params: dict[str, Any]

    def execute(self, sql: str, args: Any = None) -> int:
        with self._connect() as conn, conn.cursor() as cursor:
            count = cursor.execute(sql, args)
            conn.commit()
            return int(count)

    def insert(self, table: str, **values: Any) -> int:
        columns = ", ".join(values)
        marks = ", ".join(["%s"] * len(values))
        with self._connect() as conn, conn.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {table} ({columns}) VALUES ({marks})",  # noqa: S608 (test tables)
                list(values.values()),
            )
            conn.commit()
            return int(cursor.lastrowid)

    def rows(self, sql: str, args: Any = None) -> list[dict[str, Any]]:
        with self._connect() as conn, conn.cursor(pymysql.cursors.DictCursor) as cursor:
            cursor.execute(sql, args)
            return list(cursor.fetchall())

    def _connect(self) -> pymysql.connections.Connection[Any]:
        return pymysql.connect(database=self.name, **self.params)


def _server() -> tuple[str, dict[str, Any]]:
    url = os.environ.get("LEGACY_TEST_MARIADB_URL", "mysql://root@127.0.0.1:3306/")
    db = dj_database_url.parse(url)
    params = {
        "host": db.get("HOST") or "127.0.0.1",
        "port": int(db.get("PORT") or 3306),
        "user": db.get("USER") or "root",
        "password": db.get("PASSWORD") or "",
        "connect_timeout": 5,
    }
    return url, params


def _probe() -> str | None:
    """None when the MariaDB server answers, else why not."""
    _, params = _server()
    try:
        pymysql.connect(**params).close()
    except pymysql.Error as exc:
        return f"{params['host']}:{params['port']}: {exc}"
    return None


_UNREACHABLE = _probe()
_NAME = f"legacy_test_{os.getpid()}"
if _UNREACHABLE is None:
    # Registered at collection, before pytest-django sets up the test databases: the test
    # runner then creates legacy_test_<pid> (TEST NAME) for the tests that ask for the
    # alias, and drops it at the end; the router keeps every migration away from it.
    _, _params = _server()
    connections.settings[ALIAS] = {
        "ENGINE": "django.db.backends.mysql",
        "NAME": _NAME,
        "USER": _params["user"],
        "PASSWORD": _params["password"],
        "HOST": _params["host"],
        "PORT": str(_params["port"]),
        "TEST": {"NAME": _NAME, "CHARSET": "utf8"},
    }
    connections.configure_settings(connections.settings)

# Every test here uses the real legacy database next to the agent's, without wrapping
# transactions: the legacy writer reads and writes from its own thread.
LEGACY_DB_MARK = pytest.mark.django_db(transaction=True, databases=["default", ALIAS])


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if _UNREACHABLE is None:
        return
    mine = [item for item in items if Path(str(item.path)).is_relative_to(Path(__file__).parent)]
    if not mine:
        return
    if os.environ.get("CI"):
        pytest.exit(f"CI is set but MariaDB is unreachable: {_UNREACHABLE}", returncode=3)
    skip = pytest.mark.skip(reason=f"MariaDB unreachable: {_UNREACHABLE}")
    for item in mine:
        item.add_marker(skip)


@pytest.fixture
def legacy_db() -> Iterator[LegacyDb]:
    """The ZKECO tables, created fresh in legacy_test_<pid> for the test, dropped after it."""
    _, params = _server()
    params = {k: v for k, v in params.items() if k != "connect_timeout"}
    db = LegacyDb(_NAME, params)
    statements = _statements(SCHEMA.read_text())
    tables = [s.split()[2] for s in statements if s.upper().startswith("CREATE TABLE")]
    for table in tables:
        db.execute(f"DROP TABLE IF EXISTS {table}")
    for statement in statements:
        db.execute(statement)
    try:
        yield db
    finally:
        connections[ALIAS].close()
        for table in tables:
            db.execute(f"DROP TABLE IF EXISTS {table}")


def _statements(sql: str) -> list[str]:
    lines = [line for line in sql.splitlines() if not line.lstrip().startswith("--")]
    return [part.strip() for part in "\n".join(lines).split(";") if part.strip()]
