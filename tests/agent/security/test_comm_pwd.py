"""The legacy obfuscated ``comm_pwd`` form is accepted, decoded, and never shown.

Gaps left by tests/agent/test_crypt.py (the codec alone): rows as ZKECO wrote them reach the
agent's DeviceConfig decoded, plain legacy values are kept, and neither the config's repr nor
a configuration error repeats the password.
"""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured

from agent.crypt import decode_comm_pwd, encode_comm_pwd, is_obfuscated
from agent.deviceconfig import DeviceConfig
from tests.agent.factories import make_device

pytestmark = pytest.mark.django_db


def test_legacy_rows_reach_the_agent_decoded() -> None:
    # "EFFFFFFFFFFF" is "100000" as base/crypt.py stores it ('1' -> "EF", '0' -> "FF").
    for stored in ("EFHFGFBF", "EFFFFFFFFFFF", encode_comm_pwd("Zk-15char-pass!")):
        device = make_device(comm_pwd=stored)
        config = DeviceConfig.from_model(device)
        assert config.password == decode_comm_pwd(stored)
        assert is_obfuscated(stored)
        assert config.password not in repr(config)
        assert stored not in repr(config)


def test_plain_legacy_values_are_kept_as_they_are() -> None:
    for plain in ("1234", "888888", "pass1"):
        device = make_device(comm_pwd=plain)
        assert DeviceConfig.from_model(device).password == plain


def test_a_hand_computed_legacy_value_decodes() -> None:
    # 'Z' 0x5A ^ 0x65 = 0x3F -> 'A'+0xF, 'A'+0x3 = "PD"; 'k' 0x6B ^ 0x65 = 0x0E -> "OA".
    assert decode_comm_pwd("PDOA") == "Zk"
    assert encode_comm_pwd("Zk") == "PDOA"


def test_a_bad_stored_password_is_a_config_error_that_does_not_repeat_it() -> None:
    too_long = "Secret-TooLong16"  # 16: one more than a panel takes, 32 obfuscated (the column)
    device = make_device(comm_pwd=encode_comm_pwd(too_long))
    with pytest.raises(ImproperlyConfigured) as caught:
        DeviceConfig.from_model(device)
    message = str(caught.value)
    assert "comm password" in message
    assert too_long not in message
    assert encode_comm_pwd(too_long) not in message
