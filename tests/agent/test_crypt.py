from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent.crypt import decode_comm_pwd, encode_comm_pwd, is_obfuscated


def test_encode_matches_a_hand_computed_value():
    # '1' = 0x31, 0x31 ^ 101 = 0x54 -> 'A'+4, 'A'+5 = "EF"; '2' -> 0x57 -> "HF";
    # '3' -> 0x56 -> "GF"; '4' -> 0x51 -> "BF".
    assert encode_comm_pwd("1234") == "EFHFGFBF"


def test_decode_of_a_hand_computed_value():
    assert decode_comm_pwd("EFHFGFBF") == "1234"


def test_empty_means_no_password_both_ways():
    assert encode_comm_pwd("") == ""
    assert decode_comm_pwd("") == ""
    assert not is_obfuscated("")


@given(st.text(max_size=20))
def test_round_trip(plain):
    encoded = encode_comm_pwd(plain)
    assert set(encoded) <= set("ABCDEFGHIJKLMNOP")
    assert decode_comm_pwd(encoded) == plain


@pytest.mark.parametrize("plain", ["1234", "abc", "x", "Secret-1", "ABC", "ab12"])
def test_values_that_are_not_the_obfuscated_form_are_plain(plain):
    assert not is_obfuscated(plain)
    assert decode_comm_pwd(plain) == plain


def test_letters_a_to_p_that_decode_to_invalid_utf8_stay_plain():
    # "AI" decodes to byte 0x80 ^ 101 = 0xE5, a UTF-8 lead byte that "AA" ('e') cannot follow.
    assert not is_obfuscated("AIAA")
    assert decode_comm_pwd("AIAA") == "AIAA"
    assert not is_obfuscated("PP")  # 0xFF ^ 101 = 0x9A: a continuation byte alone
    assert decode_comm_pwd("PP") == "PP"


def test_even_length_capitals_a_to_p_are_read_as_obfuscated():
    # The documented ambiguity: a plain "ABBA" is taken for the obfuscated form.
    assert is_obfuscated("ABBA")
    assert decode_comm_pwd("ABBA") != "ABBA"
