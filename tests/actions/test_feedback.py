"""Feedback form: rating 1-5 and comment; happy guests get review links,
unhappy ones reach the manager (an urgent staff request)."""
from __future__ import annotations

import pytest
from rasa_sdk.executor import CollectingDispatcher

from actions.feedback import NO_COMMENT, ActionSubmitFeedback, ValidateFeedbackForm, parse_rating
from tests.conftest import make_tracker, run_action


@pytest.mark.parametrize(
    "text, expected",
    [
        ("5", 5), ("1", 1), ("⭐⭐⭐⭐", 4), ("★★", 2), ("⭐", 1), ("⭐ 3", 3), ("5⭐", 5), ("4 ⭐", 4), ("⭐⭐⭐⭐⭐ 10/10", 5), ("4/5", 4), ("3 de 5", 3), ("4 out of 5", 4),
        ("5 estrellas", 5), ("cinco", 5), ("un cuatro", 4), ("three stars", 3), ("I'd give it a 2", 2),
    ],
)
def test_parse_rating(text, expected):
    assert parse_rating(text) == expected


@pytest.mark.parametrize("text", ["", "asdf", "10", "0", "6", "muy bien", "great!", "🙂", "⭐" * 6])
def test_parse_rating_garbage(text):
    assert parse_rating(text) is None


async def extract_rating(text: str, requested="feedback_rating"):
    tracker = make_tracker(slots={"requested_slot": requested}, text=text)
    return await ValidateFeedbackForm().extract_feedback_rating(CollectingDispatcher(), tracker, {})


async def test_extract_rating():
    assert await extract_rating("⭐⭐⭐⭐⭐") == {"feedback_rating": 5.0}
    assert await extract_rating("no sé") == {"feedback_rating": "no sé"}  # to validation
    assert await extract_rating("me encantó, un 5", requested=None) == {"feedback_rating": 5.0}  # at the form's start
    assert await extract_rating("quiero opinar", requested=None) == {}
    assert await extract_rating("4", requested="feedback_comment") == {}  # a comment, not a rating


async def validate(method: str, value, **tracker_kwargs):
    dispatcher = CollectingDispatcher()
    result = await getattr(ValidateFeedbackForm(), method)(value, dispatcher, make_tracker(**tracker_kwargs), {})
    return result, [m["response"] for m in dispatcher.messages]


async def test_validate_rating():
    assert await validate("validate_feedback_rating", 4.0) == ({"feedback_rating": 4.0}, [])
    assert await validate("validate_feedback_rating", "2") == ({"feedback_rating": 2.0}, [])
    for bad in (0, 6, "asdf", None):
        assert await validate("validate_feedback_rating", bad) == ({"feedback_rating": None}, ["utter_rating_not_understood"])


async def test_validate_comment():
    assert (await validate("validate_feedback_comment", "  Great breakfast  "))[0] == {"feedback_comment": "Great breakfast"}
    assert (await validate("validate_feedback_comment", "no", intent="deny"))[0] == {"feedback_comment": NO_COMMENT}
    assert (await validate("validate_feedback_comment", "   "))[0] == {"feedback_comment": NO_COMMENT}
    long = (await validate("validate_feedback_comment", "x" * 5000))[0]["feedback_comment"]
    assert len(long) == 2000


async def test_feedback_form_run_with_the_real_domain(domain):
    tracker = make_tracker(slots={"requested_slot": "feedback_rating"}, text="⭐⭐⭐", active_loop="feedback_form")
    result = await ValidateFeedbackForm().run(CollectingDispatcher(), tracker, domain)
    assert {"event": "slot", "name": "feedback_rating", "value": 3.0, "timestamp": None} in [dict(e) for e in result]


async def test_positive_feedback_gets_review_links(staff_store, hotel):
    tracker = make_tracker(slots={"feedback_rating": 5.0, "feedback_comment": "¡Todo genial!"}, sender_id="guest-9")
    result = await run_action(ActionSubmitFeedback(), tracker)
    assert result.responses == ["utter_feedback_positive"]
    links = result.message("utter_feedback_positive")["review_links"]
    for url in hotel.review_links.values():
        assert url in links
    assert "Google: " in links and "Tripadvisor: " in links
    [request] = staff_store.open_requests("feedback")
    assert (request.sender_id, request.text, bool(request.urgent)) == ("guest-9", "5/5: ¡Todo genial!", False)
    assert result.slot("feedback_rating") is None and result.slot("feedback_comment") is None


async def test_negative_feedback_reaches_the_manager(staff_store):
    tracker = make_tracker(slots={"feedback_rating": 2.0, "feedback_comment": None})
    result = await run_action(ActionSubmitFeedback(), tracker)
    assert result.responses == ["utter_feedback_negative"]
    [request] = staff_store.open_requests("feedback")
    assert request.text == "2/5: -" and request.urgent


async def test_three_stars_is_not_positive(staff_store):
    result = await run_action(ActionSubmitFeedback(), make_tracker(slots={"feedback_rating": 3.0, "feedback_comment": "meh"}))
    assert result.responses == ["utter_feedback_negative"]
    result = await run_action(ActionSubmitFeedback(), make_tracker(slots={"feedback_rating": 4.0, "feedback_comment": "ok"}))
    assert result.responses == ["utter_feedback_positive"]


async def test_a_second_answer_that_is_no_rating_is_taken_as_unrated_feedback(staff_store):
    asked_twice = [
        {"event": "slot", "name": "requested_slot", "value": "feedback_rating"},
        {"event": "user", "text": "pues regular"},
        {"event": "slot", "name": "requested_slot", "value": "feedback_rating"},
        {"event": "user", "text": "la cama era incomoda"},
    ]
    result, responses = await validate("validate_feedback_rating", "la cama era incomoda", text="la cama era incomoda",
                                       slots={"requested_slot": "feedback_rating"}, events=asked_twice)
    assert result == {"feedback_rating": 0.0, "feedback_comment": "la cama era incomoda"} and responses == []
    tracker = make_tracker(slots={"feedback_rating": 0.0, "feedback_comment": "la cama era incomoda"}, sender_id="guest-7")
    submitted = await run_action(ActionSubmitFeedback(), tracker)
    assert submitted.responses == ["utter_feedback_unrated"]
    [request] = staff_store.open_requests("feedback")
    assert request.text == "no rating: la cama era incomoda" and not request.urgent
