from __future__ import annotations

import dataclasses

import pytest
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from agent import conf
from agent.conf import AgentSettings


def test_every_settings_key_is_a_field_and_every_field_has_a_parser():
    names = {field.name for field in dataclasses.fields(AgentSettings)}
    assert set(settings.ZKAGENT) == names
    assert set(conf._PARSERS) == names


def test_empty_config_gives_the_defaults():
    assert conf.load({}) == AgentSettings()


def test_project_settings_load():
    loaded = conf.load()
    assert loaded.io_error_threshold == 20
    assert loaded.download_hours == frozenset({0})


def test_text_values_from_the_environment_are_parsed():
    loaded = conf.load(
        {
            "interval": "0.5",
            "download_hours": "0, 6,12,18",
            "batch_size": "1000",
            "metrics_port": "9200",
            "backend": "Redis",
            "serial_ports": "COM1=/dev/ttyUSB0, 3=/dev/ttyUSB1",
        }
    )
    assert loaded.interval == 0.5
    assert loaded.download_hours == frozenset({0, 6, 12, 18})
    assert loaded.batch_size == 1000
    assert loaded.metrics_port == 9200
    assert loaded.backend == "redis"
    assert loaded.serial_ports == ((1, "/dev/ttyUSB0"), (3, "/dev/ttyUSB1"))


def test_serial_port_path_uses_the_mapping_then_the_pattern():
    loaded = conf.load({"serial_ports": {2: "/dev/rs485-a"}})
    assert loaded.serial_port_path(2) == "/dev/rs485-a"
    assert loaded.serial_port_path(3) == "/dev/ttyS2"  # COM3 is the third port, ttyS2
    windows = conf.load({"serial_port_pattern": "COM{n}"})
    assert windows.serial_port_path(3) == "COM3"


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ({"interval": 0}, "interval: must be a positive number of seconds"),
        ({"interval": "fast"}, "interval: expected a number"),
        ({"interval": True}, "interval: expected a number"),
        ({"download_hours": "0,24"}, "download_hours: hour 24 is not 0..23"),
        ({"download_hours": 6}, "download_hours: expected hours"),
        ({"batch_size": 0}, "batch_size: must be an integer >= 1"),
        ({"io_error_threshold": "x"}, "io_error_threshold: expected an integer"),
        ({"metrics_port": 70000}, "metrics_port: must be a TCP port"),
        ({"backend": "kafka"}, "backend: must be one of memory, redis"),
        ({"redis_url": "http://h:6379"}, "redis_url: must start with redis://"),
        (
            {"serial_port_pattern": "/dev/tty{port}"},
            "serial_port_pattern: '/dev/tty{port}' may only",
        ),
        ({"serial_ports": {0: "/dev/x"}}, "serial_ports: COM number 0 is not 1..254"),
        ({"agent_id": "has space"}, "agent_id: use 1..64"),
        ({"intervall": 1}, "unknown key 'intervall'"),
    ],
)
def test_load_rejects_bad_values_with_a_clear_message(raw, fragment):
    with pytest.raises(ImproperlyConfigured, match="invalid ZKAGENT settings") as info:
        conf.load(raw)
    assert fragment in str(info.value)


def test_load_reports_every_problem_at_once():
    with pytest.raises(ImproperlyConfigured) as info:
        conf.load({"interval": -1, "batch_size": "many"})
    assert "interval" in str(info.value)
    assert "batch_size" in str(info.value)


def test_a_redis_url_with_a_password_is_never_echoed():
    with pytest.raises(ImproperlyConfigured) as info:
        conf.load({"redis_url": "http://user:s3cret@host/0"})
    assert "s3cret" not in str(info.value)


def test_zkagent_that_is_not_a_dict():
    with override_settings(ZKAGENT=["interval"]):
        assert [p.check_id for p in conf.problems()] == ["agent.E001"]
        with pytest.raises(ImproperlyConfigured, match="must be a dict"):
            conf.load()


def test_problems_carry_check_ids():
    found = conf.problems({"nope": 1, "interval": "x"})
    assert sorted(p.check_id for p in found) == ["agent.E002", "agent.E003"]


def test_settings_are_frozen():
    loaded = conf.load({})
    with pytest.raises(dataclasses.FrozenInstanceError):
        loaded.interval = 2.0  # type: ignore[misc]
