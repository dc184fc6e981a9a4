"""DeadLetter storage form: round trip, schema validation, input errors."""
import json

import pytest

from dlq import CorruptEntry, DeadLetter
from dlq.backoff import delay_before_retry, next_retry_at
from dlq.entry import short_error


def sample(**changes) -> DeadLetter:
    entry = DeadLetter(
        id="a" * 32, kind="pms.create_booking", payload={"guest": "Ana", "nights": 2, "rooms": ["double"]},
        error="PMSUnavailable: circuit open", reason="pms_unavailable", conversation_id="346001@123",
        attempts=1, first_failed_at=1000.0, last_retry_at=1060.0, next_retry_at=1180.0,
    )
    return entry.with_changes(**changes)


def test_fields_round_trip():
    entry = sample(status="retrying", lease_until=1500.5, claim="tok")
    assert DeadLetter.from_fields(entry.to_fields()) == entry
    assert DeadLetter.from_json(entry.to_json()) == entry
    assert all(isinstance(value, str) for value in entry.to_fields().values())


def test_optional_fields_are_absent_not_empty():
    fields = sample(conversation_id=None, last_retry_at=None).to_fields()
    assert "conversation_id" not in fields and "last_retry_at" not in fields and "claim" not in fields
    assert DeadLetter.from_fields(fields).conversation_id is None


@pytest.mark.parametrize("field, value, problem", [
    ("payload", "{not json", "Expecting property name"),
    ("payload", "[1, 2]", "payload is not a JSON object"),
    ("attempts", "-1", "attempts is negative"),
    ("attempts", "x", "invalid literal"),
    ("status", "lost", "unknown status"),
    ("kind", "PMS create", "kind must look like"),
    ("next_retry_at", "inf", "next_retry_at is not a time"),
    ("id", "../../etc", "bad id"),
])
def test_damaged_fields_raise_corrupt_entry(field, value, problem):
    fields = sample().to_fields()
    fields[field] = value
    with pytest.raises(CorruptEntry, match=problem):
        DeadLetter.from_fields(fields)


def test_missing_field_and_bad_json_are_corrupt():
    fields = sample().to_fields()
    del fields["reason"]
    with pytest.raises(CorruptEntry, match="missing field 'reason'"):
        DeadLetter.from_fields(fields)
    with pytest.raises(CorruptEntry, match="not JSON"):
        DeadLetter.from_json("{{")
    with pytest.raises(CorruptEntry, match="JSON object of strings"):
        DeadLetter.from_json(json.dumps({"attempts": 1}))


def test_backoff_doubles_from_the_base():
    assert [delay_before_retry(k, 60) for k in (1, 2, 3)] == [60, 120, 240]
    assert next_retry_at(1000, 0, 60) == 1060 and next_retry_at(1000, 2, 60) == 1240
    with pytest.raises(ValueError, match="start at 1"):
        delay_before_retry(0, 60)


def test_errors_become_short_single_lines():
    assert short_error(ValueError("bad\n  thing")) == "ValueError: bad thing"
    long = short_error("x" * 5000)
    assert len(long) == 500 and long.endswith("…")


def test_errors_do_not_carry_tokens_or_passwords():
    error = ConnectionError("GET https://graph.test/v21.0/123/messages?access_token=EAAG123&x=1 failed; "
                            "redis://:hunter2@cache:6379/0 refused; api_key=abc")
    text = short_error(error)
    assert "EAAG123" not in text and "hunter2" not in text and "abc" not in text
    assert "access_token=***&x=1" in text and "redis://:***@cache:6379/0" in text and "api_key=***" in text
