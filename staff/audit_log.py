"""Staff actions into the project's audit log (actions/audit.py): who
(``staff:<name>``), which conversation and channel, what (``staff_*``), the
booking. Guest text never goes into it, only what was done. A row that cannot
be written is logged as an error; what staff did stays done."""
from __future__ import annotations

import logging
from typing import Any, Optional

logger = logging.getLogger("staff.audit")

_log: Any = None


def use_database(database_url: str) -> None:
    """The console's ASSISTANT_DATABASE_URL (the audit table lives next to the staff requests)."""
    global _log
    from actions.audit import AuditLog

    _log = AuditLog(database_url)


def audit() -> Any:
    global _log
    if _log is None:
        from actions.audit import audit_log

        _log = audit_log()
    return _log


def record(who: str, conversation_id: str, channel: str, what: str, detail: str = "",
           booking_ref: Optional[str] = None) -> None:
    action = what if what.startswith("staff_") else f"staff_{what}"
    try:
        audit().record(action, actor=f"staff:{who}" if ":" not in who else who, conversation_id=conversation_id,
                       channel=channel or "", booking_ref=booking_ref or "", details={"detail": detail} if detail else None)
    except Exception as exc:
        logger.error("audit row %s by %s not written: %s", action, who, type(exc).__name__)
