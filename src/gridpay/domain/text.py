"""Text that reaches a terminal, an SMS or the database: no control or text-direction characters.

A name or a file field holding NUL, an escape sequence or a bidi override (U+202E turns the rest
of a line around) is refused at import with the row named: PostgreSQL cannot store NUL at all,
a terminal acts on escape sequences, and an SMS carrying them shows the customer something else
than the clerk saw. Text already stored, or quoted back in an error message, is shown with each
such character replaced by U+FFFD, so nothing printed can act on the terminal.

Refused: the C0 controls (U+0000-U+001F, tab included: no name or field holds one), DEL and the C1
controls (U+007F-U+009F), and the invisible direction marks, embeddings, overrides and isolates
(U+061C, U+200E-U+200F, U+202A-U+202E, U+2066-U+2069) with the line and paragraph separators
(U+2028-U+2029), which also break a line.
"""

from __future__ import annotations

import re

import polars as pl

REPLACEMENT = "\ufffd"

_RANGES = (
    (0x00, 0x1F),
    (0x7F, 0x9F),
    (0x061C, 0x061C),
    (0x200E, 0x200F),
    (0x2028, 0x202E),
    (0x2066, 0x2069),
)
_RANGES_BUT_TAB = ((0x00, 0x08), (0x0A, 0x1F), *_RANGES[1:])


def _rust_class(ranges: tuple[tuple[int, int], ...]) -> str:
    return "[" + "".join(f"\\x{{{a:X}}}-\\x{{{b:X}}}" for a, b in ranges) + "]"


# Polars' regex syntax (Rust's regex crate) and Python's spell code points differently.
CONTROL_PATTERN = _rust_class(_RANGES)
_CONTROL_BUT_TAB_PATTERN = _rust_class(_RANGES_BUT_TAB)
_CONTROL_RE = re.compile("[" + "".join(f"\\u{a:04x}-\\u{b:04x}" for a, b in _RANGES) + "]")
_CONTROL_BUT_TAB_RE = re.compile(
    "[" + "".join(f"\\u{a:04x}-\\u{b:04x}" for a, b in _RANGES_BUT_TAB) + "]"
)
# Each refused character -> how a message names it ("U+202E"): a lookup, not a per-row callback.
_CODE_POINTS = {chr(c): f"U+{c:04X}" for a, b in _RANGES for c in range(a, b + 1)}


def has_control_chars(text: pl.Expr, *, keep_tabs: bool = False) -> pl.Expr:
    """True where ``text`` holds a refused character (tabs allowed if asked; null stays null)."""
    return text.str.contains(_CONTROL_BUT_TAB_PATTERN if keep_tabs else CONTROL_PATTERN)


def first_control_char(text: pl.Expr, *, keep_tabs: bool = False) -> pl.Expr:
    """The first refused character of ``text`` (tabs allowed if asked) named as ``U+XXXX``."""
    pattern = _CONTROL_BUT_TAB_PATTERN if keep_tabs else CONTROL_PATTERN
    found = text.str.extract(f"({pattern})", 1)
    return found.replace_strict(_CODE_POINTS, default=None, return_dtype=pl.String)


def printable_expr(text: pl.Expr, *, keep_tabs: bool = False) -> pl.Expr:
    """``text`` with every refused character (tabs kept if asked) replaced by U+FFFD."""
    pattern = _CONTROL_BUT_TAB_PATTERN if keep_tabs else CONTROL_PATTERN
    return text.str.replace_all(pattern, REPLACEMENT)


def printable(text: str, *, keep_tabs: bool = False) -> str:
    """``text`` with every refused character (tabs kept if asked) replaced by U+FFFD."""
    pattern = _CONTROL_BUT_TAB_RE if keep_tabs else _CONTROL_RE
    return pattern.sub(REPLACEMENT, text)


# A mainland mobile number: 11 digits from 13x to 19x, not inside a longer run of digits (an
# account number or a meter's address is not a phone).
# The country code may lead it (+86, 86).
_PHONE_RE = re.compile(r"(?<!\d)((?:\+?86)?1[3-9]\d)(\d{4})(\d{4})(?!\d)")


def mask_phones(text: str) -> str:
    """``text`` with every mobile number shown as ``138****5678``: for logs and clerks' screens."""
    return _PHONE_RE.sub(r"\1****\3", text)
