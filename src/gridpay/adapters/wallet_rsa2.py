"""A wallet that signs the Alipay way (RSA2): our requests signed with our key, its answers and
notifications verified with its public key.

The signed string is every parameter except ``sign`` and ``sign_type`` (and empty ones), sorted
by name, joined as ``k=v&k=v`` (values as received, after URL decoding); the signature is
RSA-SHA256 (PKCS#1 v1.5), base64. The wallet simulator (``gridpay wallet-sim``) speaks the same
protocol with its own keys, so the callbacks that reach gridpay cross a real socket.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import os
import threading
from collections.abc import Mapping
from pathlib import Path

import httpx
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from gridpay.config import Settings
from gridpay.domain.wallet import (
    NOT_FOUND_STATUS,
    Notification,
    Refusal,
    TradeStatus,
    WalletOrder,
    amount_text,
    parse_amount_text,
)
from gridpay.errors import ConfigError, DeliveryFailed

SIGN_TYPE = "RSA2"
RSA_KEY_BITS = 2048
_UNSIGNED_FIELDS = frozenset({"sign", "sign_type"})
# The fields a payment notification must carry for gridpay to judge it.
NOTIFICATION_FIELDS = (
    "notify_id",
    "app_id",
    "out_trade_no",
    "trade_no",
    "total_amount",
    "trade_status",
    "passback_params",
)
_FIELD_CHARS_MAX = 256  # no field of a notification is longer; a longer one is not the wallet's


# --- signing: the one canonical string ---------------------------------------------------


def signed_text(params: Mapping[str, str]) -> bytes:
    """The string the signature covers: sorted ``k=v`` pairs, without sign/sign_type/empties."""
    pairs = sorted((k, v) for k, v in params.items() if k not in _UNSIGNED_FIELDS and v != "")
    return "&".join(f"{k}={v}" for k, v in pairs).encode("utf-8")


def sign(params: Mapping[str, str], key: rsa.RSAPrivateKey) -> str:
    signature = key.sign(signed_text(params), padding.PKCS1v15(), hashes.SHA256())
    return base64.b64encode(signature).decode("ascii")


def signed(params: Mapping[str, str], key: rsa.RSAPrivateKey) -> dict[str, str]:
    """``params`` with ``sign_type`` and ``sign`` added."""
    out = dict(params)
    out["sign_type"] = SIGN_TYPE
    out["sign"] = sign(out, key)
    return out


def verify(params: Mapping[str, str], key: rsa.RSAPublicKey) -> bool:
    """Is ``params["sign"]`` the RSA2 signature of the other parameters under ``key``?"""
    try:
        signature = base64.b64decode(params.get("sign", ""), validate=True)
    except (binascii.Error, ValueError):
        return False
    try:
        key.verify(signature, signed_text(params), padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        return False
    return True


# --- keys ---------------------------------------------------------------------------------


def generate_private_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=RSA_KEY_BITS)


def private_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def public_pem(key: rsa.RSAPrivateKey | rsa.RSAPublicKey) -> bytes:
    public = key.public_key() if isinstance(key, rsa.RSAPrivateKey) else key
    return public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def load_private_key(pem: bytes, source: str) -> rsa.RSAPrivateKey:
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{source} is not a PEM private key: {type(exc).__name__}") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ConfigError(f"{source} is not an RSA key (RSA2 needs one)")
    return key


def load_public_key(pem: bytes, source: str) -> rsa.RSAPublicKey:
    try:
        key = serialization.load_pem_public_key(pem)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{source} is not a PEM public key: {type(exc).__name__}") from None
    if not isinstance(key, rsa.RSAPublicKey):
        raise ConfigError(f"{source} is not an RSA key (RSA2 needs one)")
    return key


def _pem_from(env_name: str, path: str | None, setting: str) -> tuple[bytes, str]:
    """A key's PEM from the environment (secrets stay out of files) or the configured file."""
    text = os.environ.get(env_name)
    if text:
        return text.encode("ascii"), env_name
    if not path:
        raise ConfigError(f"paying online needs {setting} (or {env_name}) to be configured")
    try:
        return Path(path).read_bytes(), setting
    except OSError as exc:
        raise ConfigError(f"cannot read {setting} {path}: {exc.strerror}") from None


# --- the adapter --------------------------------------------------------------------------


class Rsa2Wallet:
    """gridpay's client of an Alipay-style wallet (``ports.payments_online.PaymentProvider``)."""

    def __init__(
        self,
        *,
        app_id: str,
        gateway_url: str,
        notify_url: str,
        return_url: str,
        private_key: rsa.RSAPrivateKey,
        wallet_public_key: rsa.RSAPublicKey,
        timeout_s: float,
    ) -> None:
        self.app_id = app_id
        self.gateway_url = gateway_url
        self.notify_url = notify_url
        self.return_url = return_url
        self._key = private_key
        self._wallet_key = wallet_public_key
        self._timeout_s = timeout_s
        # Made at the first request to the wallet: an HTTP client loads the TLS trust store
        # (tens of milliseconds of CPU), which a server that only verifies the wallet's
        # callbacks never needs.
        self._http: httpx.Client | None = None
        self._http_lock = threading.Lock()

    def close(self) -> None:
        with self._http_lock:
            if self._http is not None:
                self._http.close()
                self._http = None

    def _client(self) -> httpx.Client:
        with self._http_lock:
            if self._http is None:
                self._http = httpx.Client(timeout=self._timeout_s)
            return self._http

    def create_order(self, order: WalletOrder, account_no: str, subject: str) -> str:
        biz = {
            "out_trade_no": order.order_id,
            "total_amount": amount_text(order.amount_fen),
            "subject": subject,
            "passback_params": account_no,
        }
        answer = self._call(
            "wallet.trade.create",
            biz,
            notify_url=self.notify_url,
            return_url=self.return_url.replace("{order_id}", order.order_id),
        )
        pay_url = answer.get("pay_url")
        if answer.get("code") != "10000" or not pay_url:
            raise DeliveryFailed(f"the wallet refused order {order.order_id}: {_reason(answer)}")
        return pay_url

    def query_order(self, order_id: str) -> TradeStatus:
        answer = self._call("wallet.trade.query", {"out_trade_no": order_id})
        if answer.get("sub_code") == "ACQ.TRADE_NOT_EXIST":
            return TradeStatus(order_id=order_id, trade_status=NOT_FOUND_STATUS)
        if answer.get("code") != "10000":
            raise DeliveryFailed(f"the wallet could not say of {order_id}: {_reason(answer)}")
        amount = answer.get("total_amount")
        return TradeStatus(
            order_id=order_id,
            trade_status=answer.get("trade_status", ""),
            trade_no=answer.get("trade_no") or None,
            amount_fen=parse_amount_text(amount) if amount else None,
            account_no=answer.get("passback_params") or None,
        )

    def verify_notification(self, params: Mapping[str, str]) -> Notification | Refusal:
        if not params.get("sign") or params.get("sign_type") != SIGN_TYPE:
            return Refusal.UNSIGNED
        if not verify(params, self._wallet_key):
            return Refusal.BAD_SIGNATURE
        if any(not params.get(f) or len(params[f]) > _FIELD_CHARS_MAX for f in NOTIFICATION_FIELDS):
            return Refusal.MALFORMED
        amount_fen = parse_amount_text(params["total_amount"])
        if amount_fen is None:
            return Refusal.MALFORMED
        return Notification(
            notify_id=params["notify_id"],
            app_id=params["app_id"],
            order_id=params["out_trade_no"],
            trade_no=params["trade_no"],
            amount_fen=amount_fen,
            trade_status=params["trade_status"],
            account_no=params["passback_params"],
        )

    def _call(self, method: str, biz: Mapping[str, str], **extra: str) -> dict[str, str]:
        """One signed request to the gateway; its answer, once the wallet's signature checks."""
        params = {
            "app_id": self.app_id,
            "method": method,
            "charset": "utf-8",
            "version": "1.0",
            "timestamp": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S"),
            "biz_content": json.dumps(biz, ensure_ascii=False, sort_keys=True),
            **extra,
        }
        try:
            response = self._client().post(self.gateway_url, data=signed(params, self._key))
            body = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise DeliveryFailed(
                f"the wallet did not answer {method}: {type(exc).__name__}"
            ) from None
        answer = body.get("response") if isinstance(body, dict) else None
        if not isinstance(answer, dict) or not all(isinstance(v, str) for v in answer.values()):
            raise DeliveryFailed(f"the wallet's answer to {method} is not in its format")
        if not verify({**answer, "sign": str(body.get("sign", ""))}, self._wallet_key):
            raise DeliveryFailed(f"the wallet's answer to {method} is not signed by the wallet")
        return answer


def _reason(answer: Mapping[str, str]) -> str:
    return f"{answer.get('code', '?')} {answer.get('msg', '')}".strip()


def wallet_from_settings(settings: Settings) -> Rsa2Wallet | None:
    """The configured wallet, or None when paying online is not configured (no app id)."""
    if not settings.wallet_app_id:
        return None
    missing = [
        name
        for name in ("wallet_gateway_url", "wallet_notify_url", "wallet_return_url")
        if not getattr(settings, name)
    ]
    if missing:
        raise ConfigError(f"paying online needs {', '.join(missing)} configured")
    own_pem, own_source = _pem_from(
        "GRIDPAY_WALLET_PRIVATE_KEY", settings.wallet_private_key_file, "wallet_private_key_file"
    )
    wallet_pem, wallet_source = _pem_from(
        "GRIDPAY_WALLET_PUBLIC_KEY", settings.wallet_public_key_file, "wallet_public_key_file"
    )
    assert settings.wallet_gateway_url and settings.wallet_notify_url
    assert settings.wallet_return_url
    return Rsa2Wallet(
        app_id=settings.wallet_app_id,
        gateway_url=settings.wallet_gateway_url,
        notify_url=settings.wallet_notify_url,
        return_url=settings.wallet_return_url,
        private_key=load_private_key(own_pem, own_source),
        wallet_public_key=load_public_key(wallet_pem, wallet_source),
        timeout_s=settings.wallet_timeout_s,
    )
