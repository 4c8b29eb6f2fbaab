"""The DL/T 645 package's errors: what the wire and the meters can do wrong.

They are ``GridpayError``s, so an operator's command maps them to exit codes like any other;
``FrameError`` is the codec's own and the only error the codec and the stream decoder raise.
"""

from __future__ import annotations

from gridpay.errors import DeliveryFailed, GridpayError


class FrameError(GridpayError):
    """Bytes that are not a DL/T 645 frame: bad checksum, length, end byte, address or payload."""

    code = "meter_frame_error"


# The head-end's errors keep ``DeliveryFailed``'s code: to an operator (and to the exit codes)
# a meter that cannot be reached or refuses is a command or a read that did not get through.


class MeterNoAnswer(DeliveryFailed):
    """A meter (or the gateway in front of it) did not answer in time, after every retry."""


class MeterRefused(DeliveryFailed):
    """The meter answered with an abnormal reply: ``error_byte`` says why."""

    def __init__(self, message: str, error_byte: int) -> None:
        super().__init__(message)
        self.error_byte = error_byte


class MeterGarbled(DeliveryFailed):
    """A meter's reply was a valid frame whose data could not be read (``FrameError``)."""
