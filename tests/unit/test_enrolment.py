"""Enrolment rules: validation of the agreement, leaving, contacts and the progress table."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from gridpay.domain.enrolment import (
    AddContact,
    ContactRole,
    Enrol,
    EnrolChannel,
    EnrolmentRequest,
    Leave,
    OpeningPayment,
    Protect,
    ProtectionReason,
    check_can_enrol,
    customer_contact,
    leave_refund_transfer,
    not_enrolled_message,
    parse_phone,
    progress_table,
    validate_contact,
    validate_enrolment,
    validate_leave,
    validate_protection,
)
from gridpay.domain.ledger import REFUNDS_ID, TransferKind
from gridpay.domain.registry import Account, BillingMode, Language, SupplyType
from gridpay.errors import InvalidInput, Refused

OFFICES = {1: "Office 1", 2: "Office 2"}
A = "0000000007"


def test_an_office_enrolment_names_its_office() -> None:
    request = validate_enrolment(Enrol(A, office_id=2), OFFICES.keys())
    assert request.account_id == 7
    assert request.channel is EnrolChannel.OFFICE
    assert request.office_id == 2
    assert request.phone is None and request.language is None


def test_an_online_enrolment_has_no_office() -> None:
    request = validate_enrolment(Enrol(A, online=True), OFFICES.keys())
    assert request.channel is EnrolChannel.ONLINE
    assert request.office_id is None


@pytest.mark.parametrize(
    ("cmd", "message"),
    [
        (Enrol(A), "--office N or --online"),
        (Enrol(A, office_id=1, online=True), "not both"),
        (Enrol(A, office_id=9), "unknown office 9: known offices are 1, 2"),
        (Enrol("7", office_id=1), "exactly 10 digits"),
        (Enrol(A, office_id=1, phone="call me"), "is not a phone number"),
        (Enrol(A, office_id=1, language="fr"), "language 'fr' is not zh or en"),
        (Enrol(A, office_id=1, protected="tired"), "medical, elderly_alone"),
        (Enrol(A, office_id=1, trusted_name="Li Na"), "needs a phone"),
        (Enrol(A, office_id=1, trusted_phone="13900000000", trusted_language="de"), "not zh"),
    ],
)
def test_a_malformed_enrolment_is_refused_with_the_reason(cmd: Enrol, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        validate_enrolment(cmd, OFFICES.keys())


def test_a_trusted_contact_and_a_protection_are_carried() -> None:
    cmd = Enrol(
        A,
        office_id=1,
        phone=" +86 139-0000-0001 ",
        language="EN",
        trusted_phone="13900000002",
        trusted_name=" Li Na ",
        protected="elderly_alone",
    )
    request = validate_enrolment(cmd, OFFICES.keys())
    assert request.phone == "+86 139-0000-0001"
    assert request.language is Language.EN
    assert request.trusted is not None
    assert request.trusted.phone == "13900000002"
    assert request.trusted.role is ContactRole.TRUSTED
    assert request.trusted.language is Language.ZH
    assert request.trusted.name == "Li Na"
    assert request.protection is ProtectionReason.ELDERLY_ALONE


def test_a_counter_opening_payment_is_booked_at_the_signing_office() -> None:
    cmd = Enrol(A, office_id=2, opening=OpeningPayment("100", "counter", "C-1"))
    request = validate_enrolment(cmd, OFFICES.keys())
    assert request.opening is not None
    assert request.opening.office_id == 2
    assert request.opening.amount_yuan == "100"
    bank = validate_enrolment(
        Enrol(A, office_id=2, opening=OpeningPayment("100", "bank", "B-1")), OFFICES.keys()
    )
    assert bank.opening is not None and bank.opening.office_id is None


def _account(
    supply_type: SupplyType = SupplyType.DIRECT,
    phone: str | None = "13800000007",
    language: Language = Language.EN,
) -> Account:
    return Account(
        id=int(A),
        account_no=A,
        name="Wang",
        phone=phone,
        language=language,
        supply_type=supply_type,
        tariff_code="resident",
        office_id=1,
        billing_mode=BillingMode.POSTPAID,
        created_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    )


def test_a_non_direct_supply_account_is_refused_because_its_meter_is_not_the_companys() -> None:
    account = _account(SupplyType.NON_DIRECT)
    with pytest.raises(Refused, match="meter in the home is not the company's") as caught:
        check_can_enrol(account)
    assert "cannot be read or switched remotely" in caught.value.message
    check_can_enrol(_account(SupplyType.DIRECT))


def _request(phone: str | None = None, language: Language | None = None) -> EnrolmentRequest:
    return EnrolmentRequest(7, EnrolChannel.ONLINE, None, phone, language, None, None, None)


def test_the_customer_contact_defaults_to_the_accounts_phone_and_language() -> None:
    account = _account(phone="13800000007", language=Language.EN)
    contact = customer_contact(_request(), account)
    assert (contact.phone, contact.role, contact.language) == (
        "13800000007",
        ContactRole.CUSTOMER,
        Language.EN,
    )
    given = customer_contact(_request("13911112222", Language.ZH), account)
    assert (given.phone, given.language) == ("13911112222", Language.ZH)


def test_an_account_without_any_phone_cannot_enrol() -> None:
    with pytest.raises(InvalidInput, match="has no phone"):
        customer_contact(_request(), _account(phone=None, language=Language.ZH))


def test_the_leave_refund_has_one_possible_id_per_agreement() -> None:
    refund = leave_refund_transfer(7, 3, 1_250, dt.date(2026, 7, 1))
    assert refund.id == "refund/leave-0000000007-3"
    assert refund.kind is TransferKind.REFUND
    assert (refund.debit_account_id, refund.credit_account_id) == (7, REFUNDS_ID)
    assert refund.amount_fen == 1_250
    assert refund == leave_refund_transfer(7, 3, 1_250, dt.date(2026, 7, 1))
    assert leave_refund_transfer(7, 4, 1_250, dt.date(2026, 7, 1)).id != refund.id


def test_leaving_an_account_not_enrolled_says_so() -> None:
    assert "nothing to leave" in not_enrolled_message(A, None)
    assert "it left on 2026-06-03" in not_enrolled_message(A, dt.date(2026, 6, 3))
    assert validate_leave(Leave(A, note=" moved ")).note == "moved"


def test_contacts_and_protections_are_validated() -> None:
    account_id, contact = validate_contact(AddContact(A, "13900000009", "trusted", "en", "Wang"))
    assert account_id == 7
    assert (contact.role, contact.language, contact.name) == (
        ContactRole.TRUSTED,
        Language.EN,
        "Wang",
    )
    with pytest.raises(InvalidInput, match="contact role 'boss'"):
        validate_contact(AddContact(A, "13900000009", "boss"))
    assert validate_protection(Protect(A, "medical", "oxygen")) == (
        7,
        ProtectionReason.MEDICAL,
        "oxygen",
    )
    assert validate_protection(Protect(A, None)) == (7, None, None)


def test_a_phone_too_long_for_the_column_is_refused() -> None:
    with pytest.raises(InvalidInput, match="at most 32 characters"):
        parse_phone("1" * 33)


# --- the progress table -------------------------------------------------------------------

D1, D2, D3 = dt.date(2026, 6, 1), dt.date(2026, 6, 2), dt.date(2026, 6, 3)


def _frame(data: dict[str, list[object]]) -> pl.DataFrame:
    return pl.DataFrame(data, strict=False)


def test_progress_counts_each_day_and_accumulates_from_the_accounts_in_before_the_drive() -> None:
    table = progress_table(
        OFFICES,
        eligible=_frame({"office_id": [1, 2], "eligible": [10, 4]}),
        before=_frame({"office_id": [1], "enrolled_total": [2]}),
        events=_frame(
            {
                "office_id": [1, 1, 2],
                "day": [D1, D3, D3],
                "joined": [3, 1, 2],
                "left": [0, 1, 0],
            }
        ),
        signed=_frame({"office_id": [2], "day": [D1], "signed_here": [3]}),
        first_day=D1,
        last_day=D3,
    )
    assert table.height == 3 * 3  # two offices and the overall row, each of three days
    office_1 = table.filter(pl.col("office_id") == 1)
    assert office_1["enrolled"].to_list() == [3, 0, 1]
    assert office_1["enrolled_total"].to_list() == [5, 5, 5]
    assert office_1["share_pct"].to_list() == [50.0, 50.0, 50.0]
    office_2 = table.filter(pl.col("office_id") == 2)
    assert office_2["signed_here"].to_list() == [3, 0, 0]
    assert office_2["enrolled_total"].to_list() == [0, 0, 2]
    overall = table.filter(pl.col("office_id").is_null())
    assert overall["office"].to_list() == ["all offices"] * 3
    assert overall["enrolled_total"].to_list() == [5, 5, 7]
    assert overall["eligible"].to_list() == [14, 14, 14]
    assert overall["share_pct"].to_list() == [35.7, 35.7, 50.0]


def test_an_office_without_eligible_accounts_has_no_share() -> None:
    table = progress_table(
        {1: "Office 1"},
        eligible=_frame({"office_id": [], "eligible": []}),
        before=_frame({"office_id": [], "enrolled_total": []}),
        events=_frame({"office_id": [], "day": [], "joined": [], "left": []}),
        signed=_frame({"office_id": [], "day": [], "signed_here": []}),
        first_day=D1,
        last_day=D1,
    )
    assert table["share_pct"].to_list() == [None, None]
    assert table["enrolled_total"].to_list() == [0, 0]
