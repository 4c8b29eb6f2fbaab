"""Frames out of a byte stream: what arrives over TCP is noise, preambles, whole frames and
pieces of frames, in any cut.

``feed`` bytes, then take ``next_frame`` until it says ``None`` (wait for more). Bytes before a
frame's start are skipped; a candidate that turns out bad (length above the limit, checksum or
end byte wrong) raises ``FrameError`` once, after dropping its first byte, so the next call
resynchronises on whatever follows. The buffer never holds more than one frame's worth beyond
what was fed last.
"""

from __future__ import annotations

from gridpay import limits
from gridpay.adapters.dlt645.codec import FRAME_BYTES_MIN, HEADER_BYTES, START, Frame
from gridpay.adapters.dlt645.codec import frame_from_body as _frame_from_body
from gridpay.adapters.dlt645.errors import FrameError


class StreamDecoder:
    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> None:
        self._buffer += data

    def pending_bytes(self) -> int:
        return len(self._buffer)

    def next_frame(self) -> Frame | None:
        """The next whole frame, ``None`` until more bytes arrive, or ``FrameError``."""
        buffer = self._buffer
        while True:
            start = buffer.find(START)
            if start < 0:
                buffer.clear()
                return None
            del buffer[:start]
            if len(buffer) < HEADER_BYTES:
                if len(buffer) > 7 and buffer[7] != START:
                    del buffer[:1]
                    continue
                return None
            if buffer[7] != START:
                del buffer[:1]  # a 68 inside noise, not a frame's start
                continue
            length = buffer[9]
            if length > limits.dlt645_data_bytes_max:
                del buffer[:1]
                raise FrameError(f"L={length} is above the {limits.dlt645_data_bytes_max} allowed")
            size = FRAME_BYTES_MIN + length
            if len(buffer) < size:
                return None
            body = bytes(buffer[:size])
            try:
                frame = _frame_from_body(body)
            except FrameError:
                del buffer[:1]
                raise
            del buffer[:size]
            return frame

    def frames(self, data: bytes = b"") -> list[Frame]:
        """Feed ``data`` and take every whole frame; a bad one raises (the rest stay buffered)."""
        self.feed(data)
        taken = []
        while (frame := self.next_frame()) is not None:
            taken.append(frame)
        return taken
