"""Formatting shared by the CLI and the web page: times in the hotel's zone,
shortened text, and plain-text tables that guest text cannot break.

Guest text is untrusted. In a terminal, control characters (ANSI escapes that
could recolour or rewrite the screen, carriage returns, bidi overrides that
reorder what staff read) are replaced before printing; the web page escapes
HTML instead (staff/pages.py).
"""
from __future__ import annotations

import datetime as dt
import re
import unicodedata
from typing import Optional, Sequence
from zoneinfo import ZoneInfo

BIDI_CONTROLS = re.compile("[\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def format_time(moment: Optional[dt.datetime], zone: ZoneInfo) -> str:
    if moment is None:
        return "-"
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M")


def format_epoch(seconds: Optional[float], zone: ZoneInfo) -> str:
    if not seconds:
        return "-"
    return format_time(dt.datetime.fromtimestamp(seconds, dt.timezone.utc), zone)


def shorten(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: max(0, width - 1)] + "…"


def terminal_safe(text: str) -> str:
    """Whitespace controls become spaces, other control and bidi characters U+FFFD."""
    text = BIDI_CONTROLS.sub("\ufffd", text)
    out = []
    for char in text:
        if char in "\t\n\r\v\f":
            out.append(" ")
        elif unicodedata.category(char) == "Cc":
            out.append("\ufffd")
        else:
            out.append(char)
    return "".join(out)


def table(headers: Sequence[str], rows: Sequence[Sequence[object]], max_width: int = 60) -> str:
    """Columns padded to their widest cell; each cell made terminal-safe and
    cut to ``max_width`` characters."""
    cells = [[shorten(terminal_safe(str(cell)), max_width) for cell in row] for row in rows]
    widths = [max([len(h)] + [len(row[i]) for row in cells]) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths)).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in cells]
    return "\n".join(lines)
