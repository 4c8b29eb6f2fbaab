"""A wallet to pay through (``gridpay wallet-sim``): Alipay's protocol, in its own process.

It takes order-creation requests signed by gridpay (verified with gridpay's public key), serves
a confirmation page, and on confirm calls gridpay back asynchronously with an RSA2-signed
notification over a real socket, resending as real wallets do until gridpay answers
``success``; it answers order queries. Faults to inject: never call back (so gridpay's query
fallback is exercised), call twice, call late.

Each attempt carries its own ``notify_id``: a resend is a new notification of the same trade,
so gridpay credits it at most once by the order, not by the notification.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import html
import json
import logging
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from gridpay.adapters.wallet_rsa2 import (
    generate_private_key,
    load_private_key,
    load_public_key,
    private_pem,
    public_pem,
    sign,
    signed,
    verify,
)
from gridpay.domain.wallet import parse_amount_text

log = logging.getLogger("gridpay.wallet_sim")

PAYEE_ZH = "国网河南省电力公司"
DEFAULT_RETRY_DELAYS_S = (1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0)  # real wallets: 2 m .. 15 h
_SHANGHAI = dt.timezone(dt.timedelta(hours=8))


@dataclass(frozen=True)
class SimOptions:
    app_id: str  # the merchant (gridpay) this wallet serves
    notify_url: str | None  # where to call back; None: the URL each order names
    key: rsa.RSAPrivateKey  # the wallet's own
    merchant_key: rsa.RSAPublicKey  # gridpay's, to verify its requests
    never_notify: bool = False
    notify_twice: bool = False
    delay_s: float = 0.0
    retry_delays_s: tuple[float, ...] = DEFAULT_RETRY_DELAYS_S
    seller_id: str = "2088000000000001"


@dataclass
class SimTrade:
    trade_no: str
    out_trade_no: str
    total_amount: str
    subject: str
    passback_params: str
    notify_url: str
    return_url: str
    status: str = "WAIT_BUYER_PAY"
    paid_at: dt.datetime | None = None
    notifications: list[str] = field(default_factory=list)  # answers gridpay gave


def load_or_make_key(path: Path) -> rsa.RSAPrivateKey:
    """The wallet's key from ``path``; made there (with ``path.pub`` beside it) if missing."""
    if path.exists():
        return load_private_key(path.read_bytes(), str(path))
    key = generate_private_key()
    path.write_bytes(private_pem(key))
    path.chmod(0o600)
    path.with_name(path.name + ".pub").write_bytes(public_pem(key))
    return key


def load_merchant_key(path: Path) -> rsa.RSAPublicKey:
    return load_public_key(path.read_bytes(), str(path))


class WalletSim:
    def __init__(self, options: SimOptions) -> None:
        self.options = options
        self.trades: dict[str, SimTrade] = {}  # by trade_no
        self.by_order: dict[str, str] = {}  # out_trade_no -> trade_no
        self._tasks: set[asyncio.Task[None]] = set()
        self._serial = 0

    # --- the protocol --------------------------------------------------------------------

    def gateway(self, params: dict[str, str], base_url: str) -> dict[str, Any]:
        if params.get("sign_type") != "RSA2" or not verify(params, self.options.merchant_key):
            return self._answer(
                {"code": "40002", "msg": "Invalid Arguments", "sub_code": "isv.invalid-signature"}
            )
        if params.get("app_id") != self.options.app_id:
            return self._answer(
                {"code": "40002", "msg": "Invalid Arguments", "sub_code": "isv.invalid-app-id"}
            )
        try:
            biz = json.loads(params.get("biz_content", ""))
        except ValueError:
            biz = None
        if not isinstance(biz, dict):
            return self._answer({"code": "40002", "msg": "Invalid Arguments"})
        method = params.get("method")
        if method == "wallet.trade.create":
            return self._create(params, {k: str(v) for k, v in biz.items()}, base_url)
        if method == "wallet.trade.query":
            return self._query(str(biz.get("out_trade_no", "")))
        return self._answer(
            {"code": "40004", "msg": "Business Failed", "sub_code": "unknown-method"}
        )

    def _create(self, params: dict[str, str], biz: dict[str, str], base_url: str) -> dict[str, Any]:
        out_trade_no = biz.get("out_trade_no", "")
        amount = biz.get("total_amount", "")
        if not out_trade_no or parse_amount_text(amount) is None:
            return self._answer({"code": "40002", "msg": "Invalid Arguments"})
        if out_trade_no in self.by_order:
            trade = self.trades[self.by_order[out_trade_no]]
        else:
            self._serial += 1
            now = dt.datetime.now(_SHANGHAI)
            trade = SimTrade(
                trade_no=f"{now:%Y%m%d}22{self._serial:012d}",
                out_trade_no=out_trade_no,
                total_amount=amount,
                subject=biz.get("subject", ""),
                passback_params=biz.get("passback_params", ""),
                notify_url=self.options.notify_url or params.get("notify_url", ""),
                return_url=params.get("return_url", ""),
            )
            self.trades[trade.trade_no] = trade
            self.by_order[out_trade_no] = trade.trade_no
        return self._answer(
            {
                "code": "10000",
                "msg": "Success",
                "out_trade_no": out_trade_no,
                "trade_no": trade.trade_no,
                "pay_url": f"{base_url}pay/{trade.trade_no}",
            }
        )

    def _query(self, out_trade_no: str) -> dict[str, Any]:
        trade_no = self.by_order.get(out_trade_no)
        if trade_no is None:
            return self._answer(
                {
                    "code": "40004",
                    "msg": "Business Failed",
                    "sub_code": "ACQ.TRADE_NOT_EXIST",
                    "out_trade_no": out_trade_no,
                }
            )
        trade = self.trades[trade_no]
        return self._answer(
            {
                "code": "10000",
                "msg": "Success",
                "out_trade_no": out_trade_no,
                "trade_no": trade_no,
                "trade_status": trade.status,
                "total_amount": trade.total_amount,
                "passback_params": trade.passback_params,
            }
        )

    def _answer(self, response: dict[str, str]) -> dict[str, Any]:
        return {"response": response, "sign": sign(response, self.options.key)}

    def confirm(self, trade_no: str) -> SimTrade | None:
        trade = self.trades.get(trade_no)
        if trade is None:
            return None
        if trade.status == "WAIT_BUYER_PAY":
            trade.status = "TRADE_SUCCESS"
            trade.paid_at = dt.datetime.now(_SHANGHAI)
            if not self.options.never_notify:
                task = asyncio.get_running_loop().create_task(self._notify(trade))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
        return trade

    def notification(self, trade: SimTrade) -> dict[str, str]:
        assert trade.paid_at is not None
        now = dt.datetime.now(_SHANGHAI)
        return signed(
            {
                "notify_time": f"{now:%Y-%m-%d %H:%M:%S}",
                "notify_type": "trade_status_sync",
                "notify_id": secrets.token_hex(16),
                "app_id": self.options.app_id,
                "charset": "utf-8",
                "version": "1.0",
                "trade_no": trade.trade_no,
                "out_trade_no": trade.out_trade_no,
                "total_amount": trade.total_amount,
                "receipt_amount": trade.total_amount,
                "trade_status": trade.status,
                "gmt_payment": f"{trade.paid_at:%Y-%m-%d %H:%M:%S}",
                "seller_id": self.options.seller_id,
                "passback_params": trade.passback_params,
            },
            self.options.key,
        )

    async def _notify(self, trade: SimTrade) -> None:
        """Call back until ``success`` (then, with ``notify_twice``, once more)."""
        await asyncio.sleep(self.options.delay_s)
        delays = (0.0, *self.options.retry_delays_s)
        async with httpx.AsyncClient(timeout=10.0) as client:
            for attempt, delay_s in enumerate(delays, start=1):
                await asyncio.sleep(delay_s)
                answer = await self._post(client, trade)
                log.info("notify %s attempt %d: %s", trade.out_trade_no, attempt, answer)
                if answer == "success":
                    break
            if self.options.notify_twice:
                await self._post(client, trade)

    async def _post(self, client: httpx.AsyncClient, trade: SimTrade) -> str:
        try:
            response = await client.post(trade.notify_url, data=self.notification(trade))
            answer = response.text.strip()
        except httpx.HTTPError as exc:
            answer = f"unreachable: {type(exc).__name__}"
        trade.notifications.append(answer)
        return answer

    # --- the app -------------------------------------------------------------------------

    def app(self) -> FastAPI:
        app = FastAPI(title="wallet simulator", docs_url=None, redoc_url=None, openapi_url=None)

        @app.post("/gateway.do")
        async def gateway(request: Request) -> JSONResponse:
            form = await request.form()
            params = {k: v for k, v in form.items() if isinstance(v, str)}
            return JSONResponse(self.gateway(params, str(request.base_url)))

        @app.get("/pay/{trade_no}", response_class=HTMLResponse)
        def page(trade_no: str) -> Response:
            trade = self.trades.get(trade_no)
            if trade is None:
                return HTMLResponse("no such trade", status_code=404)
            return HTMLResponse(_confirm_page(trade))

        @app.post("/pay/{trade_no}/confirm")
        async def confirm(trade_no: str) -> Response:
            trade = self.confirm(trade_no)
            if trade is None:
                return HTMLResponse("no such trade", status_code=404)
            return RedirectResponse(trade.return_url or "/", status_code=303)

        @app.get("/trades")
        def trades() -> dict[str, Any]:
            """What the simulator did (for tests and benches): trades and gridpay's answers."""
            return {
                t.out_trade_no: {"status": t.status, "answers": t.notifications}
                for t in self.trades.values()
            }

        return app


def _confirm_page(trade: SimTrade) -> str:
    amount = html.escape(trade.total_amount)
    trade_no = html.escape(trade.trade_no)
    return f"""<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>确认付款 · Confirm payment</title></head>
<body><main>
<h1>模拟钱包 · Wallet (simulated)</h1>
<p id="what">向 {PAYEE_ZH} 付款 ¥{amount}<br>Confirm payment of ¥{amount} to {PAYEE_ZH}</p>
<p>{html.escape(trade.subject)}</p>
<form method="post" action="/pay/{trade_no}/confirm">
<button type="submit" id="confirm">确认付款 · Confirm payment</button>
</form>
</main></body></html>
"""
