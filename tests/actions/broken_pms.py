"""A real LocalPMS that can be switched off, for the outage tests."""
from __future__ import annotations

from actions.pms.local import LocalPMS

PMS_METHODS = ("list_room_types", "check_availability", "create_booking", "get_booking", "cancel_booking",
               "confirm_payment", "late_checkout_available", "set_late_checkout")


class BrokenPMS(LocalPMS):
    """While ``down`` every call fails like a lost database connection; with
    ``answers_lost`` calls do reach the database but the answer is lost on the
    way back (the write happened, the caller sees a failure). Calls are counted."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.down = True
        self.answers_lost = False
        self.attempts = 0

    def __getattribute__(self, name):
        attribute = super().__getattribute__(name)
        if name in PMS_METHODS:
            def guarded(*args, **kwargs):
                self.attempts += 1
                if self.down:
                    raise ConnectionError("database connection lost")
                result = attribute(*args, **kwargs)
                if self.answers_lost:
                    raise ConnectionError("connection reset before the answer arrived")
                return result
            guarded.__name__ = name
            return guarded
        return attribute
