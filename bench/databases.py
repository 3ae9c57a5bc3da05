"""The benchmark's own databases: SQLite files under a temporary folder, a `bench` PostgreSQL DB.

Never the developer's `var/commcenter.sqlite3` nor the test database: every URL here is
passed to the children as DATABASE_URL, and the schema comes from the agent's migrations.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from .common import DEFAULT_POSTGRES_URL, PYTHON, REPO, base_env


def postgres_url() -> str:
    return os.environ.get("BENCH_POSTGRES_URL", DEFAULT_POSTGRES_URL)


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def migrate(url: str) -> None:
    """Apply the agent's migrations to the database at *url*."""
    done = subprocess.run(
        [PYTHON, "zkeco_modern/manage.py", "migrate", "--verbosity", "0", "--no-input"],
        cwd=REPO,
        env=base_env(DATABASE_URL=url),
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"migrate {url} failed: {done.stderr[-2000:]}")


def ensure_postgres(url: str) -> str | None:
    """Create the database of *url* if it is missing; return why PostgreSQL is unusable, or None."""
    import psycopg  # noqa: PLC0415 only the orchestrator's PostgreSQL setup needs it

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    admin = urlunsplit(parts._replace(path="/postgres"))
    try:
        with psycopg.connect(admin, autocommit=True, connect_timeout=5) as connection:
            exists = connection.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (name,)
            ).fetchone()
            if not exists:
                connection.execute(f'CREATE DATABASE "{name}"')
    except psycopg.Error as exc:
        return f"PostgreSQL at {parts.hostname}:{parts.port} unusable: {exc}"
    return None


def sqlite_template(folder: Path) -> Path:
    """A migrated SQLite file to copy for each measurement (migrating once is the slow part)."""
    template = folder / "template.sqlite3"
    if not template.exists():
        migrate(sqlite_url(template))
    return template


def fresh_sqlite(folder: Path, name: str) -> str:
    """A copy of the migrated template as *name*; returns its URL."""
    target = folder / name
    for suffix in ("", "-wal", "-shm"):
        Path(f"{target}{suffix}").unlink(missing_ok=True)
    shutil.copyfile(sqlite_template(folder), target)
    return sqlite_url(target)
