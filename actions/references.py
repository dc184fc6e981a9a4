"""What a booking reference looks like, in one place: the forms read it from
guests' text and the channels from receipt captions and file names."""
from __future__ import annotations

import re
from typing import Any, Optional

# BK + 6 digits (the demo's and older bookings) or BK + 10 of actions.pms.local.REFERENCE_ALPHABET
REFERENCE = re.compile(r"\b[Bb][Kk][\s-]?(\d{6}|[A-HJ-NP-Za-hj-np-z2-9]{10})\b")


def canonical_reference(text: Any) -> Optional[str]:
    """'bk-482913' -> 'BK482913', 'bk 7qk2m9xrta' -> 'BK7QK2M9XRTA'; None when there is no reference in ``text``."""
    match = REFERENCE.search(str(text or ""))
    return f"BK{match.group(1).upper()}" if match else None
