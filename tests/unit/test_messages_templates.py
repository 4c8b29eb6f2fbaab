"""Message templates: the exact SMS text of each kind, in Chinese and English (golden strings)."""

from __future__ import annotations

import datetime as dt

import pytest

from gridpay.domain.messages import (
    FIELDS,
    LANGUAGES,
    Brand,
    MessageKind,
    dedupe_key,
    next_attempt_at,
    render,
)
from gridpay.errors import InvalidInput

BRAND = Brand("国网河南省电力公司", "State Grid Henan Electric Power Company", "95598")
A = "0000000001"
ZH_END = "客服热线95598。【国网河南省电力公司】"
EN_END = " Hotline 95598. State Grid Henan Electric Power Company"

GOLDEN: list[tuple[MessageKind, dict[str, object], str, str]] = [
    (
        MessageKind.AGREEMENT,
        {"account_no": A},
        "尊敬的客户0000000001：您已成为国网河南省电力公司的预付费用户，电费按日结算。",
        "Dear customer 0000000001, you are now a prepaid customer of State Grid Henan Electric "
        "Power Company; charges are settled daily.",
    ),
    (
        MessageKind.WARNING,
        {"account_no": A, "as_of": dt.date(2026, 12, 5), "balance_fen": 1_230},
        "尊敬的客户0000000001：截至12月5日，您的用电即将超出预付电费，可用余额12.30元，"
        "请尽快缴费。",
        "Dear customer 0000000001, as of 5 Dec your use is about to exceed your prepayment; "
        "available balance 12.30 yuan; please pay soon.",
    ),
    (
        MessageKind.ARREARS,
        {"account_no": A, "balance_fen": -1_230, "pay_by": dt.date(2026, 12, 8)},
        "尊敬的客户0000000001：您的电费已超出预付电费，可用余额-12.30元，请于12月8日前缴费，"
        "逾期将自动停电。",
        "Dear customer 0000000001, your charges exceed your prepayment; available balance "
        "-12.30 yuan; please pay by 8 Dec, after which supply will be cut off automatically.",
    ),
    (
        MessageKind.ARREARS_ESTIMATED,
        {"account_no": A, "balance_fen": -1_230},
        "尊敬的客户0000000001：按估算的用电量，您的电费已超出预付电费，可用余额-12.30元。"
        "我们将尽快抄读您的电表，为稳妥起见，请及时缴费。",
        "Dear customer 0000000001, by our estimate of your use your charges exceed your "
        "prepayment; available balance -12.30 yuan. We will read your meter soon; to be safe, "
        "please pay.",
    ),
    (
        MessageKind.CUT_SOON,
        {"account_no": A, "balance_fen": -5, "cut_at": dt.datetime(2026, 12, 9, 8, 30)},
        "尊敬的客户0000000001：您的可用余额-0.05元，将于12月9日08:30停电。缴费后将自动恢复供电。",
        "Dear customer 0000000001, available balance -0.05 yuan; supply will be cut off at "
        "08:30 on 9 Dec. Once you pay, supply is restored automatically.",
    ),
    (
        MessageKind.RESTORED,
        {"account_no": A, "paid_fen": 10_000, "balance_fen": 8_770},
        "尊敬的客户0000000001：您已缴费100.00元，可用余额87.70元，将尽快为您恢复供电。",
        "Dear customer 0000000001, you have paid 100.00 yuan; available balance 87.70 yuan; "
        "supply will be restored as soon as possible.",
    ),
    (
        MessageKind.TRUSTED_CONTACT,
        {
            "account_no": A,
            "customer_name": "张秀英",
            "balance_fen": -1_230,
            "pay_by": dt.date(2027, 1, 3),
        },
        "您好，您的家人张秀英（户号0000000001）电费已欠费，可用余额-12.30元，"
        "请协助于1月3日前缴费。该户不会停电，工作人员将与您联系。",
        "Hello, your family member 张秀英 (account 0000000001) is behind with the electricity "
        "bill: available balance -12.30 yuan; please help pay by 3 Jan. Supply will not be cut "
        "off; our staff will call you.",
    ),
    (
        MessageKind.LEFT,
        {"account_no": A, "refund_fen": 4_560},
        "尊敬的客户0000000001：您已退出智能缴费，恢复按月抄表结算。剩余预付电费45.60元将退还给您。",
        "Dear customer 0000000001, you have left smart prepayment and are back on monthly "
        "billing. Your remaining prepayment of 45.60 yuan will be refunded.",
    ),
    (
        MessageKind.PHONE_CODE,
        {"account_no": A, "code": "041739", "minutes": "15"},
        "您正在将本号码设为户号0000000001的短信通知号码，验证码041739，15分钟内有效。"
        "如非本人操作，请忽略。",
        "Your code to receive the messages of account 0000000001 on this phone is 041739, "
        "valid for 15 minutes. If you did not ask, ignore this message.",
    ),
    (
        MessageKind.OWNER_FINAL,
        {"account_no": A, "last_day": dt.date(2026, 12, 4), "balance_fen": -1_230},
        "尊敬的客户0000000001：因过户，您的智能缴费协议于12月4日终止，最终余额-12.30元。"
        "欠费12.30元转入按月抄表结算，请按账单缴纳。",
        "Dear customer 0000000001, with the change of owner your smart prepayment agreement "
        "ended on 4 Dec; final balance -12.30 yuan. The 12.30 yuan owed goes to monthly "
        "billing; please pay it with your bill.",
    ),
    (
        MessageKind.SIGN_IN_CODE,
        {"account_no": A, "code": "582046", "minutes": "10"},
        "您正在登录户号0000000001的网上营业厅，验证码582046，10分钟内有效。请勿将验证码告诉他人。",
        "Your code to sign in to account 0000000001 is 582046, valid for 10 minutes. Never tell "
        "anyone this code.",
    ),
]


@pytest.mark.parametrize(("kind", "values", "zh", "en"), GOLDEN, ids=[g[0].value for g in GOLDEN])
def test_each_kind_renders_its_exact_text_in_chinese_and_english(
    kind: MessageKind, values: dict[str, object], zh: str, en: str
) -> None:
    assert render(kind, "zh", BRAND, **values) == zh + ZH_END
    assert render(kind, "en", BRAND, **values) == en + EN_END


def test_the_golden_texts_cover_every_kind() -> None:
    assert {g[0] for g in GOLDEN} == set(MessageKind)


def test_an_arrears_notice_on_estimates_threatens_no_cut_and_names_no_date() -> None:
    # A pay-by date given is not used even if a caller passes one: the template has no slot.
    values = {"account_no": A, "balance_fen": -1_230, "pay_by": dt.date(2026, 12, 8)}
    zh = render(MessageKind.ARREARS_ESTIMATED, "zh", BRAND, **values)
    en = render(MessageKind.ARREARS_ESTIMATED, "en", BRAND, **values)
    assert "停电" not in zh and "12月8日" not in zh and "抄读您的电表" in zh
    assert "cut" not in en and "8 Dec" not in en and "read your meter" in en
    assert "pay_by" not in FIELDS[MessageKind.ARREARS_ESTIMATED]


def test_leaving_with_nothing_to_refund_does_not_mention_a_refund() -> None:
    zh = render(MessageKind.LEFT, "zh", BRAND, account_no=A, refund_fen=0)
    en = render(MessageKind.LEFT, "en", BRAND, account_no=A, refund_fen=0)
    assert zh == "尊敬的客户0000000001：您已退出智能缴费，恢复按月抄表结算。" + ZH_END
    assert en == (
        "Dear customer 0000000001, you have left smart prepayment and are back on monthly "
        "billing." + EN_END
    )


def test_the_old_owners_final_statement_names_the_refund() -> None:
    values = {"account_no": A, "last_day": dt.date(2026, 12, 4), "balance_fen": 4_560}
    zh = render(MessageKind.OWNER_FINAL, "zh", BRAND, **values)
    en = render(MessageKind.OWNER_FINAL, "en", BRAND, **values)
    assert zh.startswith(
        "尊敬的客户0000000001：因过户，您的智能缴费协议于12月4日终止，最终余额45.60元。"
        "45.60元将退还给您。"
    )
    assert "45.60 yuan will be refunded to you." in en and "owed" not in en


def test_the_company_name_and_hotline_come_from_the_brand() -> None:
    brand = Brand("国网洛阳供电公司", "State Grid Luoyang", "0379-95598")
    assert render(MessageKind.AGREEMENT, "zh", brand, account_no=A).endswith(
        "客服热线0379-95598。【国网洛阳供电公司】"
    )
    assert render(MessageKind.AGREEMENT, "en", brand, account_no=A).endswith(
        "Hotline 0379-95598. State Grid Luoyang"
    )


def test_a_zero_balance_shows_as_zero_yuan() -> None:
    text = render(
        MessageKind.ARREARS, "en", BRAND, account_no=A, balance_fen=0, pay_by=dt.date(2026, 5, 1)
    )
    assert "available balance 0.00 yuan; please pay by 1 May" in text


def test_an_unknown_language_is_refused_naming_the_supported_ones() -> None:
    with pytest.raises(InvalidInput, match="'fr' is not supported: use one of zh, en"):
        render(MessageKind.AGREEMENT, "fr", BRAND, account_no=A)


@pytest.mark.parametrize("kind", list(MessageKind))
def test_a_missing_value_is_our_mistake(kind: MessageKind) -> None:
    with pytest.raises(AssertionError, match=kind.value):
        render(kind, "zh", BRAND)


def test_money_given_as_yuan_text_is_our_mistake() -> None:
    with pytest.raises(AssertionError, match="paid_fen must be fen"):
        render(MessageKind.RESTORED, "en", BRAND, account_no=A, paid_fen="100", balance_fen=0)


def test_every_kind_declares_its_fields_and_languages_are_zh_and_en() -> None:
    assert set(FIELDS) == set(MessageKind)
    assert LANGUAGES == ("zh", "en")


def test_dedupe_key_names_kind_account_cycle_and_phone() -> None:
    assert (
        dedupe_key(MessageKind.ARREARS, 12, 3, "13900000012") == "arrears/0000000012/3/13900000012"
    )


# --- retries ---------------------------------------------------------------------------------

FAILED_AT = dt.datetime(2026, 12, 1, 2, 0, tzinfo=dt.UTC)


def _next(attempts_made: int) -> dt.datetime | None:
    return next_attempt_at(
        FAILED_AT, attempts_made, attempts_max=8, retry_base_s=60, retry_cap_s=600
    )


def test_retries_back_off_exponentially_from_the_base_delay_up_to_the_cap() -> None:
    delays = [_next(n) for n in range(1, 8)]
    assert [d - FAILED_AT for d in delays if d is not None] == [
        dt.timedelta(minutes=m) for m in (1, 2, 4, 8, 10, 10, 10)
    ]


def test_no_retry_after_the_last_attempt() -> None:
    assert _next(8) is None
