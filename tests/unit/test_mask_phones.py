from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from gridpay.domain.text import mask_phones


def test_a_mobile_number_keeps_its_head_and_tail() -> None:
    assert mask_phones("sent to 13812345678.") == "sent to 138****5678."
    assert mask_phones("+8613812345678") == "+86138****5678"


def test_longer_digit_runs_are_not_phones() -> None:
    # an account number, a meter address, a landline: left alone
    assert mask_phones("202208310002") == "202208310002"
    assert mask_phones("0000000001") == "0000000001"
    assert mask_phones("123812345678") == "123812345678"


@given(st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True), st.text(alphabet="ab ,:/", max_size=5))
def test_no_masked_text_holds_the_phone(phone: str, around: str) -> None:
    masked = mask_phones(around + phone + around)
    assert phone not in masked
    assert masked.count("****") == 1
