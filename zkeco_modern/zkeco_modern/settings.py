"""Django settings of the Modern CommCenter, read from the environment.

Environment:
  DATABASE_URL        any dj-database-url URL; default SQLite at <repo>/var/commcenter.sqlite3
  TZ_NAME             TIME_ZONE (default "UTC"); also the default time zone of new devices
  DJANGO_SECRET_KEY   required in production (a dev default is flagged by check agent.W001)
  DJANGO_DEBUG        "1"/"true" to enable DEBUG (off by default: the agent is a daemon)
  DJANGO_ALLOWED_HOSTS comma list (default "localhost,127.0.0.1")
  LOG_LEVEL           root log level (default INFO)
  LEGACY_DATABASE_URL the ZKECO MySQL/MariaDB database (alias "legacy"; app `legacy`)
  LEGACY_WRITER       "1" to also write acc_monitor_log rows there (docs/migration.md)
  ZKAGENT_<KEY>       overrides ZKAGENT[<key>] below (text; `agent.conf.load()` parses and
                      validates it, so a bad value is a clear error rather than a traceback here)
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import dj_database_url
import django_stubs_ext

# Lets `admin.ModelAdmin[Device]`, `forms.ModelForm[...]`, `QuerySet[...]` be subscripted at runtime.
django_stubs_ext.monkeypatch()

PROJECT_DIR = Path(__file__).resolve().parent.parent  # zkeco_modern/
REPO_DIR = PROJECT_DIR.parent
VAR_DIR = REPO_DIR / "var"


def _flag(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    return default if value is None else value.strip().lower() in {"1", "true", "yes", "on"}


# The dev key starts with "django-insecure-": check agent.W001 warns while DEBUG is off.
SECRET_KEY = os.environ.get(
    "DJANGO_SECRET_KEY",
    "django-insecure-zkeco-modern-dev-only-0c1d5b7e9a3f",  # dev default, flagged by check agent.W001
)
DEBUG = _flag("DJANGO_DEBUG")
ALLOWED_HOSTS = [
    host.strip()
    for host in os.environ.get("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1").split(",")
    if host.strip()
]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "agent",
    "monitor",  # live monitor page, /healthz (zkeco_modern/monitor)
    "legacy",  # migration from ZKECO: import, compare, legacy writer (docs/migration.md)
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "zkeco_modern.urls"
WSGI_APPLICATION = "zkeco_modern.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]


def _database() -> dict[str, Any]:
    url = os.environ.get("DATABASE_URL", "").strip()
    if not url:
        VAR_DIR.mkdir(parents=True, exist_ok=True)
        url = f"sqlite:///{VAR_DIR / 'commcenter.sqlite3'}"
    # Keep connections (the agent's DB thread would otherwise reconnect on every write: a
    # quarter of its time at 500 panels); health checks drop one the server closed.
    config: dict[str, Any] = dict(
        dj_database_url.parse(url, conn_max_age=600, conn_health_checks=True)
    )
    if config["ENGINE"] == "django.db.backends.sqlite3":
        # The agent writes while the admin reads: wait for locks (seconds) instead of failing,
        # and take the write lock at BEGIN so a transaction never has to upgrade (which the
        # busy timeout cannot help with). WAL is switched on per connection by the app.
        config["OPTIONS"] = {
            "timeout": 20,
            "transaction_mode": "IMMEDIATE",
            **config.get("OPTIONS", {}),
        }
    elif config["ENGINE"] == "django.db.backends.postgresql":
        # A server that accepts and never answers must not hang the agent's DB thread: bound
        # the connect (libpq's own timeout) and find a dead peer within ~1 min (keepalives).
        config["OPTIONS"] = {
            "connect_timeout": 5,
            "keepalives": 1,
            "keepalives_idle": 30,
            "keepalives_interval": 10,
            "keepalives_count": 3,
            **config.get("OPTIONS", {}),
        }
    return config


DATABASES = {"default": _database()}
# Migration from ZKECO (docs/migration.md): its MySQL/MariaDB database as alias "legacy", e.g.
# LEGACY_DATABASE_URL=mysql://user:password@host:3306/zkeco_db. The router keeps the legacy
# models there and everything else away from it; LEGACY_WRITER=1 enables the legacy writer.
_LEGACY_URL = os.environ.get("LEGACY_DATABASE_URL", "").strip()
if _LEGACY_URL:
    if _LEGACY_URL.startswith("mysql"):
        import pymysql  # type: ignore[import-untyped]  # stands in for mysqlclient (no C build)

        pymysql.install_as_MySQLdb()
    DATABASES["legacy"] = dict(
        dj_database_url.parse(_LEGACY_URL, conn_max_age=600, conn_health_checks=True)
    )
    if _LEGACY_URL.startswith("mysql"):
        # A legacy server that stops answering must not hang the legacy writer for ever.
        DATABASES["legacy"]["OPTIONS"] = {
            "connect_timeout": 5,
            "read_timeout": 60,
            "write_timeout": 60,
            **DATABASES["legacy"].get("OPTIONS", {}),
        }
DATABASE_ROUTERS = ["legacy.router.LegacyRouter"]
ZKLEGACY: dict[str, Any] = {"alias": "legacy", "writer": _flag("LEGACY_WRITER")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = os.environ.get("TZ_NAME", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
LOGIN_URL = "monitor:login"  # the live monitor's login page (Django auth)
LOGIN_REDIRECT_URL = "monitor:live"

# Global agent knobs; per-device facts live in the Device table. Validated by agent.conf.load()
# (check ids agent.E001..), which also documents each key. Any key can be overridden from the
# environment as ZKAGENT_<KEY> (e.g. ZKAGENT_DOWNLOAD_HOURS="0,6,12,18").
ZKAGENT: dict[str, Any] = {
    "interval": 1.0,  # seconds between cycles of one panel (legacy realtime_delay 1000 ms)
    "download_hours": "0",  # local hours of the scheduled "new records" download (legacy down_newlog)
    "batch_size": 500,  # rows per bulk insert
    "reconnect_seconds": 60.0,  # legacy reconnect_time
    "io_error_threshold": 20,  # consecutive I/O errors before disconnecting (legacy 20)
    "command_expiry_seconds": 50.0,  # default expiry of control/immediate commands (legacy 50 s)
    "command_max_attempts": 0,  # 0: retry failed queued commands forever (legacy)
    "tcp_timeout_seconds": 3.0,  # legacy timeout=3000 ms
    "rs485_timeout_seconds": 4.0,  # legacy timeout=4000 ms
    "device_reload_seconds": 10.0,  # how often the device list is re-read
    "status_throttle_seconds": 120.0,  # status writes between transitions (legacy 120 s)
    "heartbeat_ttl_seconds": 30.0,
    "backend": "memory",  # "memory" or "redis"
    "redis_url": os.environ.get("REDIS_URL", "redis://localhost:6379/0"),
    "metrics_host": "127.0.0.1",
    "metrics_port": 9108,
    "buffer_limit": 100_000,  # events held in memory while the database is unreachable
    "serial_port_pattern": "/dev/ttyS{n_minus_1}",  # COM<n> -> device path ({n}, {n_minus_1})
    "serial_ports": {},  # explicit COM number -> device path, wins over the pattern
    "agent_id": "commcenter",
    "cluster": False,  # several agents share the fleet through Redis (docs/scale-out.md)
    "cluster_shards": 64,  # the same on every agent of one Redis
    "cluster_lease_seconds": 15.0,  # shard lease TTL; renewed every 1/5, self-fenced at 1/2
}
for _key in list(ZKAGENT):
    _override = os.environ.get(f"ZKAGENT_{_key.upper()}")
    if _override is not None:
        ZKAGENT[_key] = _override

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO").upper()},
}
