"""Staff actions into the project's audit log (actions/audit.py, written by
the access-control work) when it is there; always a log line naming who did
what. Guest text never goes into it, only what was done."""
from __future__ import annotations

import logging
from typing import Optional

logger = logging.getLogger("staff.audit")


def record(who: str, conversation_id: str, channel: str, what: str, detail: str = "",
           booking_ref: Optional[str] = None) -> None:
    logger.info("audit: %s %s on %s conversation (%s)%s", who, what, channel or "?", detail,
                f" booking {booking_ref}" if booking_ref else "")
    try:
        from actions import audit
    except ImportError:
        return
    writer = getattr(audit, "record", None)
    if writer is None:
        return
    try:
        writer(who=f"staff:{who}", conversation_id=conversation_id, channel=channel, what=what,
               booking_ref=booking_ref, detail=detail)
    except Exception as exc:  # the audit table failing must not undo what staff did; it is logged
        logger.error("audit log refused %s by %s: %s", what, who, type(exc).__name__)
