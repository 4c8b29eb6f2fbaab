"""CLI: account changes at the counter (a tariff from a day on, a new SMS phone, a new owner)."""

from __future__ import annotations

import datetime as dt

import typer

from gridpay.domain.account_changes import ChangeOwner, ChangePhone, ChangeTariff, ConfirmPhone
from gridpay.domain.money import format_fen
from gridpay.entrypoints.cli._common import (
    BY_OPTION,
    console,
    gridpay_app,
    operator,
    parse_day,
    print_json,
)
from gridpay.entrypoints.cli.accounts import accounts_app
from gridpay.errors import InvalidInput
from gridpay.services import account_changes

_JSON = typer.Option(False, "--json", help="Print JSON.")
_ACCOUNT = typer.Argument(..., help="The 10-digit account number.")
_BY = typer.Option(..., "--by", help="Who makes the change: your staff id, or 'online'.")
_REASON = typer.Option(..., "--reason", help="Why, as the customer's file should say it.")


@accounts_app.command("change-tariff")
def change_tariff(
    account: str = _ACCOUNT,
    tariff: str = typer.Option(..., "--tariff", help="The new tariff's code."),
    from_day: str = typer.Option(
        ..., "--from", help="The first day at the new tariff (after the last settled day)."
    ),
    by: str = _BY,
    reason: str = _REASON,
    as_json: bool = _JSON,
) -> None:
    """Put an account on another tariff from a day on; the tier year continues across it."""
    day = parse_day(from_day, "--from")
    assert day is not None
    with gridpay_app() as g:
        receipt = account_changes.change_tariff(
            g.store, g.clock, ChangeTariff(account, tariff, day, by, reason), actor=operator(by)
        )
    change = receipt.change
    if as_json:
        print_json(
            {
                "account_no": receipt.account_no,
                "old_tariff_code": receipt.old_tariff_code,
                "tariff_code": change.tariff_code,
                "from_day": change.from_day.isoformat(),
                "changed_by": change.changed_by,
                "reason": change.reason,
                "changed_at": change.changed_at.isoformat(),
                "already_recorded": receipt.already_recorded,
            }
        )
        return
    again = " (already recorded)" if receipt.already_recorded else ""
    console.print(
        f"account {receipt.account_no}: tariff {receipt.old_tariff_code} -> "
        f"{change.tariff_code} from {change.from_day.isoformat()}{again}; the tier year "
        f"continues (by {change.changed_by}: {change.reason})",
        markup=False,
        soft_wrap=True,
    )


@accounts_app.command("change-phone")
def change_phone(
    account: str = _ACCOUNT,
    phone: str = typer.Option(..., "--phone", help="The customer's new SMS phone."),
    by: str = _BY,
    reason: str = _REASON,
    as_json: bool = _JSON,
) -> None:
    """Send a code to the new phone; it becomes the customer's once the code is confirmed."""
    with gridpay_app() as g:
        receipt = account_changes.request_phone_change(
            g.store,
            g.clock,
            g.settings,
            ChangePhone(account, phone, by, reason),
            actor=operator(by),
        )
    if as_json:
        print_json(
            {
                "account_no": receipt.account_no,
                "old_phone": receipt.old_phone,
                "new_phone": receipt.new_phone,
                "expires_at": receipt.expires_at.isoformat(),
                "code_sent": receipt.code_sent,
            }
        )
        return
    console.print(
        f"account {receipt.account_no}: a code is queued for {receipt.new_phone}; messages go "
        f"to {receipt.old_phone or 'no phone'} until it is confirmed (confirm-phone)",
        markup=False,
        soft_wrap=True,
    )


@accounts_app.command("confirm-phone")
def confirm_phone(
    account: str = _ACCOUNT,
    code: str = typer.Option(..., "--code", help="The code the new phone received."),
    by: str | None = BY_OPTION,
    as_json: bool = _JSON,
) -> None:
    """Confirm a new phone with the code sent to it."""
    if not code:
        raise InvalidInput("give the code the new phone received (--code)")
    with gridpay_app() as g:
        done = account_changes.confirm_phone_change(
            g.store, g.clock, ConfirmPhone(account, code), actor=operator(by)
        )
    if as_json:
        print_json(
            {"account_no": done.account_no, "old_phone": done.old_phone, "phone": done.new_phone}
        )
        return
    console.print(
        f"account {done.account_no}: messages now go to {done.new_phone} "
        f"(was {done.old_phone or 'no phone'})",
        markup=False,
        soft_wrap=True,
    )


@accounts_app.command("change-owner")
def change_owner(
    account: str = _ACCOUNT,
    from_day: str = typer.Option(
        ..., "--from", help="The new owner's first day (the day after the last settled day)."
    ),
    name: str = typer.Option(..., "--name", help="The new owner's name."),
    phone: str = typer.Option(..., "--phone", help="The new owner's SMS phone."),
    language: str | None = typer.Option(
        None, "--language", help="zh or en (default: the account's)."
    ),
    by: str = _BY,
    reason: str = _REASON,
    as_json: bool = _JSON,
) -> None:
    """Change of owner (过户): the old owner's final statement (refund, or a debt handed to
    monthly billing), a new agreement for the new owner from --from on; the account's tier
    year continues."""
    day = parse_day(from_day, "--from")
    assert day is not None
    with gridpay_app() as g:
        receipt = account_changes.change_owner(
            g.store,
            g.clock,
            g.settings,
            ChangeOwner(account, day, name, phone, by, reason, language),
            actor=operator(by),
        )
    change = receipt.change
    if as_json:
        print_json(
            {
                "account_no": receipt.account_no,
                "from_day": change.from_day.isoformat(),
                "old_name": change.old_name,
                "new_name": change.new_name,
                "new_phone": change.new_phone,
                "final_balance_fen": change.final_balance_fen,
                "refund_transfer_id": change.refund_transfer_id,
                "handover_transfer_id": receipt.handed_over.id if receipt.handed_over else None,
                "old_enrolment_id": change.old_enrolment_id,
                "new_enrolment_id": change.new_enrolment_id,
                "changed_by": change.changed_by,
                "reason": change.reason,
                "sms_queued": receipt.sms_queued,
                "final_sms_queued": receipt.final_sms_queued,
            }
        )
        return
    if change.final_balance_fen > 0:
        refund = f"{format_fen(change.final_balance_fen)} yuan refunded to {change.old_name}"
    elif change.final_balance_fen < 0:
        refund = (
            f"{format_fen(-change.final_balance_fen)} yuan owed by {change.old_name}, handed to "
            "monthly billing"
        )
    else:
        refund = "nothing to refund"
    console.print(
        f"account {receipt.account_no}: {change.old_name}'s agreement ended on "
        f"{(change.from_day - dt.timedelta(days=1)).isoformat()} ({refund}); {change.new_name}'s "
        f"begins on {change.from_day.isoformat()}, continuing the account's tier year "
        f"(by {change.changed_by}: {change.reason})",
        markup=False,
        soft_wrap=True,
    )
