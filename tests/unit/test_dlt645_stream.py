"""The stream decoder: noise, partial frames and bad frames, fuzzed."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gridpay import limits
from gridpay.adapters.dlt645 import codec
from gridpay.adapters.dlt645.codec import Frame
from gridpay.adapters.dlt645.errors import FrameError
from gridpay.adapters.dlt645.stream import StreamDecoder

frames = st.builds(
    Frame,
    st.integers(0, 10**12 - 1).map(codec.address_of),
    st.integers(0, 255),
    st.binary(max_size=40),
)
# Noise without 68: it can never start a frame, so every frame after it must come out.
clean_noise = st.binary(max_size=30).map(lambda b: b.replace(b"\x68", b"\x00"))


def drain(decoder: StreamDecoder) -> tuple[list[Frame], int]:
    """Every frame the decoder gives, counting the codec's errors; bounded, so it cannot hang."""
    taken, errors = [], 0
    for _ in range(10_000):
        try:
            frame = decoder.next_frame()
        except FrameError:
            errors += 1
            continue
        if frame is None:
            return taken, errors
        taken.append(frame)
    raise AssertionError("the decoder did not settle")


def test_noise_before_a_frame_is_skipped():
    decoder = StreamDecoder()
    raw = codec.encode(codec.read_address_request())
    assert decoder.frames(b"\x00\x12\x68\x99" + raw) == [codec.read_address_request()]


def test_a_partial_frame_waits_for_the_rest():
    decoder = StreamDecoder()
    raw = codec.encode(codec.read_request("202208310002", 0x028022FF))
    assert decoder.frames(raw[:9]) == []
    assert decoder.frames(raw[9:15]) == []
    assert decoder.frames(raw[15:]) == [codec.read_request("202208310002", 0x028022FF)]


def test_a_bad_checksum_raises_once_then_the_next_frame_comes_out():
    decoder = StreamDecoder()
    bad = bytearray(codec.encode(codec.read_address_request(), preamble=False))
    bad[-2] ^= 0xFF
    good = codec.encode(codec.control_reply("000000000007"))
    decoder.feed(bytes(bad) + good)
    with pytest.raises(FrameError, match="checksum"):
        decoder.next_frame()
    assert drain(decoder) == ([codec.control_reply("000000000007")], 0)


def test_a_length_above_the_limit_raises():
    decoder = StreamDecoder()
    decoder.feed(bytes.fromhex("68 01 00 00 00 00 00 68 91") + bytes([255]))
    with pytest.raises(FrameError, match="L=255"):
        decoder.next_frame()
    assert limits.dlt645_data_bytes_max < 255


@given(st.lists(st.tuples(clean_noise, frames), max_size=6), st.data())
def test_frames_between_noise_come_out_whatever_the_cuts(pieces, data):
    stream = b"".join(noise + codec.encode(frame) for noise, frame in pieces)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=8)))
    decoder = StreamDecoder()
    taken = []
    for start, end in zip([0, *cuts], [*cuts, len(stream)], strict=True):
        decoder.feed(stream[start:end])
        got, errors = drain(decoder)
        assert errors == 0
        taken += got
    assert taken == [frame for _, frame in pieces]


@settings(max_examples=300)
@given(st.lists(st.one_of(st.binary(max_size=64), frames.map(codec.encode)), max_size=12))
def test_any_bytes_give_frames_or_the_codecs_error_and_never_hang(chunks):
    decoder = StreamDecoder()
    for chunk in chunks:
        decoder.feed(chunk)
        drain(decoder)  # anything but FrameError propagates and fails the test
    assert decoder.pending_bytes() <= codec.FRAME_BYTES_MIN + limits.dlt645_data_bytes_max


@given(frames, st.integers(0, 200), st.integers(1, 255))
def test_a_corrupted_byte_never_passes_as_a_different_frame_silently(frame, where, flip):
    raw = bytearray(codec.encode(frame, preamble=False))
    index = where % len(raw)
    raw[index] ^= flip
    decoder = StreamDecoder()
    decoder.feed(bytes(raw))
    taken, _ = drain(decoder)
    # One flipped byte can break the frame, but the checksum lets no changed frame through
    # (a flip of the checksum byte alone, or of L, only ever loses the frame).
    assert all(t == frame for t in taken)
