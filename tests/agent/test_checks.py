# ruff: noqa: S106  (secret keys are test data)
from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import override_settings

from agent.checks import check_secret_key, check_settings

REPO = Path(__file__).resolve().parents[2]


def _ids(messages):
    return sorted(message.id for message in messages)


def test_project_passes_the_system_checks():
    out, err = io.StringIO(), io.StringIO()
    call_command("check", stdout=out, stderr=err)  # raises SystemCheckError on any error
    assert "System check identified" in out.getvalue() + err.getvalue()


def test_the_default_settings_have_no_agent_errors():
    assert [m for m in check_settings() if m.is_serious()] == []


@override_settings(ZKAGENT={"interval": -1, "bogus": 1})
def test_bad_zkagent_values_fail_the_check_command():
    assert _ids(check_settings()) == ["agent.E002", "agent.E003"]
    with pytest.raises(SystemCheckError, match=r"agent\.E003"):
        call_command("check", stdout=io.StringIO(), stderr=io.StringIO())


@override_settings(ZKAGENT="interval=1")
def test_zkagent_must_be_a_dict():
    assert _ids(check_settings()) == ["agent.E001"]


@override_settings(ZKAGENT={"metrics_host": "0.0.0.0", "download_hours": ""})
def test_risky_but_valid_values_are_warnings():
    messages = check_settings()
    assert _ids(messages) == ["agent.W002", "agent.W003"]
    assert not any(m.is_serious() for m in messages)


@override_settings(ZKAGENT={"metrics_host": "::1"})
def test_ipv6_loopback_is_local():
    assert check_settings() == []


@override_settings(DEBUG=False, SECRET_KEY="django-insecure-dev")
def test_dev_secret_key_without_debug_is_flagged():
    assert _ids(check_secret_key()) == ["agent.W001"]


@override_settings(DEBUG=True, SECRET_KEY="django-insecure-dev")
def test_dev_secret_key_with_debug_is_fine():
    assert check_secret_key() == []


@override_settings(DEBUG=False, SECRET_KEY="a-real-long-random-production-secret")
def test_a_real_secret_key_is_fine():
    assert check_secret_key() == []


def test_manage_py_runs_from_the_repo_root(tmp_path):
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("ZKAGENT_", "DJANGO_"))
    }
    env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'check.sqlite3'}"
    env["ZKAGENT_INTERVAL"] = "0"  # proves the environment override reaches the checks
    result = subprocess.run(
        [sys.executable, "zkeco_modern/manage.py", "check"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1, result.stderr
    assert "agent.E003" in result.stderr
    assert "interval: must be a positive number of seconds" in result.stderr
