"""The partner payment API (/partner/v1/): banks, collection agents and wallets, signed requests.

Every request carries X-Partner, X-Timestamp, X-Nonce and X-Signature (docs/partner-api.md says
how to sign); the services check them before anything else, so an unsigned request is refused
with 401 whatever else is wrong with it. The body is read raw here (the signature covers its
bytes) and parsed by the service after the signature verifies: its schema is declared for the
OpenAPI document only.
"""

from __future__ import annotations

from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Request, Response
from pydantic import BaseModel, Field

from gridpay import bootstrap, limits
from gridpay.domain.money import format_fen
from gridpay.domain.partners import PartnerPayment, SignedHeaders
from gridpay.entrypoints.http.deps import gridpay_of
from gridpay.errors import InvalidInput
from gridpay.services import partners
from gridpay.services.group_commit import GroupCommit
from gridpay.services.partners import SignedRequest

router = APIRouter(prefix="/partner/v1", tags=["partner"])


REFERENCE_PATTERN = rf"^[A-Za-z0-9_.:-]{{1,{limits.partner_reference_chars_max}}}$"
ACCOUNT_NO_PATTERN = r"^[0-9]{10}$"


class PaymentIn(BaseModel):
    reference: str = Field(
        description="The partner's own transaction reference: the idempotency key.",
        pattern=REFERENCE_PATTERN,
    )
    account_no: str = Field(description="The 10-digit account number.", pattern=ACCOUNT_NO_PATTERN)
    amount_yuan: str = Field(
        description='Yuan, at most two decimals: "100" or "12.30".',
        pattern=r"^[0-9]{1,10}(\.[0-9]{1,2})?$",
    )


class PaymentOut(BaseModel):
    reference: str
    transfer_id: str
    account_no: str
    amount_fen: int
    amount_yuan: str
    day: str = Field(description="The business date the payment was taken (Asia/Shanghai).")
    status: str = Field(description="posted | reversed (pending: being posted; retry)")
    balance_fen: int | None = Field(description="The balance right after the payment.")
    balance_yuan: str | None
    reversal_id: str | None


class AccountOut(BaseModel):
    account_no: str
    name_masked: str = Field(description="The first character and two stars: 张**.")
    balance_fen: int
    balance_yuan: str
    prepaid: bool = Field(description="Only prepaid accounts take payments.")


class ErrorDetail(BaseModel):
    code: str
    message: str


class ErrorOut(BaseModel):
    error: ErrorDetail


_REFUSALS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "unsigned, wrongly signed, stale or replayed"},
    403: {"model": ErrorOut, "description": "the partner is suspended"},
    404: {"model": ErrorOut, "description": "no such account or payment"},
    409: {"model": ErrorOut, "description": "over a limit, a conflicting reference, refused"},
    422: {"model": ErrorOut, "description": "the request is not valid"},
}


async def signed_request(
    request: Request,
    x_partner: Annotated[str | None, Header(description="The partner's code.")] = None,
    x_timestamp: Annotated[str | None, Header(description="Unix seconds.")] = None,
    x_nonce: Annotated[str | None, Header(description="16-64 of [A-Za-z0-9_-], once.")] = None,
    x_signature: Annotated[str | None, Header(description="Hex HMAC-SHA256.")] = None,
) -> SignedRequest:
    body = await request.body()
    if len(body) > limits.partner_body_bytes_max:
        raise InvalidInput(f"the body is over {limits.partner_body_bytes_max} bytes")
    # The path exactly as sent on the request line (percent-escapes kept), as the client signed.
    raw_path: bytes = request.scope.get("raw_path") or request.url.path.encode()
    return SignedRequest(
        method=request.method,
        path=raw_path.decode("latin-1"),
        headers=SignedHeaders(
            partner=x_partner, timestamp=x_timestamp, nonce=x_nonce, signature=x_signature
        ),
        body=body,
    )


async def _built(request: Request) -> bootstrap.App:
    # async: a plain function dependency would be run in the thread pool, a hop per request.
    return gridpay_of(request)


def payments_of(request: Request) -> GroupCommit[SignedRequest, partners.PaymentAnswer]:
    """The app's group commit of partner payments (one writer per process), made at first use."""
    batcher: GroupCommit[SignedRequest, partners.PaymentAnswer] | None = getattr(
        request.app.state, "partner_payments", None
    )
    if batcher is None:
        built = gridpay_of(request)
        batcher = GroupCommit(
            partial(partners.pay_many, built.store, built.clock, built.settings, built.credit),
            limits.partner_batch_payments_max,
        )
        request.app.state.partner_payments = batcher
    return batcher


Built = Annotated[bootstrap.App, Depends(_built)]
Signed = Annotated[SignedRequest, Depends(signed_request)]


@router.get("/accounts/{account_no}", responses=_REFUSALS)
def account(
    account_no: Annotated[str, Path(pattern=ACCOUNT_NO_PATTERN)], built: Built, signed: Signed
) -> AccountOut:
    """An account's masked name and balance, to check before paying into it."""
    view = partners.look_up_account(built.store, built.clock, built.settings, signed, account_no)
    return AccountOut(
        account_no=view.account_no,
        name_masked=view.name_masked,
        balance_fen=view.balance_fen,
        balance_yuan=format_fen(view.balance_fen),
        prepaid=view.prepaid,
    )


@router.post(
    "/payments",
    status_code=201,
    responses={**_REFUSALS, 200: {"model": PaymentOut, "description": "a retry: first answer"}},
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": PaymentIn.model_json_schema()}},
        }
    },
)
async def pay(request: Request, signed: Signed, response: Response) -> PaymentOut:
    """Pay into an account, once per reference: a retry gets the first answer (200, header
    Idempotent-Replayed: true); the same reference with other details is refused (409)."""
    answer = await payments_of(request).submit(signed)
    if answer.replayed:
        response.status_code = 200
        response.headers["Idempotent-Replayed"] = "true"
    return payment_out(answer.payment)


@router.post("/payments/{reference}/reverse", responses=_REFUSALS)
def reverse(
    reference: Annotated[str, Path(pattern=REFERENCE_PATTERN)],
    built: Built,
    signed: Signed,
    response: Response,
) -> PaymentOut:
    """Reverse a payment taken today (the body is empty); reversing twice is a no-op."""
    answer = partners.reverse_payment(
        built.store, built.clock, built.settings, built.credit, signed, reference
    )
    if answer.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return payment_out(answer.payment)


def payment_out(payment: PartnerPayment) -> PaymentOut:
    return PaymentOut(
        reference=payment.reference,
        transfer_id=payment.transfer_id,
        account_no=payment.account_no,
        amount_fen=payment.amount_fen,
        amount_yuan=format_fen(payment.amount_fen),
        day=payment.day.isoformat(),
        status=payment.status,
        balance_fen=payment.balance_fen,
        balance_yuan=None if payment.balance_fen is None else format_fen(payment.balance_fen),
        reversal_id=payment.reversal_id,
    )
