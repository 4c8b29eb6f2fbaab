"""The payload security port: production State Grid meters encrypt a remote-control payload in
their security module (ESAM) with keys the utility's key management holds. gridpay frames the
payload and hands it to a ``PayloadCipher``; the plain one is for meters without that module,
the simulated fleet and interoperability peers."""

from __future__ import annotations

from typing import Protocol


class PayloadCipher(Protocol):
    """Seals the data of a remote-control frame for one meter, and opens a sealed one."""

    def seal(self, address: str, payload: bytes) -> bytes: ...

    def open(self, address: str, sealed: bytes) -> bytes: ...


class PlainPayload:
    """No encryption: the payload goes as it is (the default)."""

    def seal(self, address: str, payload: bytes) -> bytes:
        return payload

    def open(self, address: str, sealed: bytes) -> bytes:
        return sealed
