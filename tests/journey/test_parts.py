"""The journey's parts on their own: opt-out words, the hook on every guest
message, wording per party and language, signed review links and their
redirect, hotel-file validation."""
from __future__ import annotations

import datetime as dt

import pytest

from actions.session import ActionDetectLanguage
from journey import guest_messages
from journey.config import JourneyConfig, JourneyConfigError, TemplateRef
from journey.links import InvalidLink, make_token, read_token
from journey.messages import compose
from journey.optout import is_opt_out
from journey.store import JourneyStore
from tests.conftest import make_tracker, run_action

FACTS = dict(guest_name="Ana", hotel_name="Hotel Mirador", review_links="Google: http://h.test/r/x", reference="BK1",
             checkin="lun 1", checkout="mié 3", checkin_time="15:00", checkout_time="12:00")


@pytest.mark.parametrize("text", ["BAJA", "baja.", "No más mensajes", "no mas mensajes!", "STOP", "Stop promotions",
                                  "darme de baja", "unsubscribe"])
def test_opt_out_words(text):
    assert is_opt_out(text)


@pytest.mark.parametrize("text", ["stop the noise in room 12", "la baja del ascensor no funciona", "", "hola", "no"])
def test_other_messages_are_not_opt_outs(text):
    assert not is_opt_out(text)


@pytest.fixture
def journey_store(tmp_path, monkeypatch):
    monkeypatch.setenv("JOURNEY_DATABASE_URL", f"sqlite:///{tmp_path / 'journey.sqlite3'}")
    guest_messages.default_store.cache_clear()
    yield guest_messages.default_store()
    guest_messages.default_store.cache_clear()


async def test_baja_in_any_conversation_is_stored_and_answered(journey_store, hotel):
    from actions.journey_opt_out import ActionJourneyOptOut

    tracker = make_tracker(language="es", text="Baja")
    result = await run_action(ActionJourneyOptOut(), tracker)
    assert [m.get("text") for m in result.messages] == [
        "Hecho: no te enviaremos más mensajes automáticos. Si nos escribes, te seguiremos respondiendo."]
    assert journey_store.opted_out(hotel.id, tracker.sender_id)
    english = await run_action(ActionJourneyOptOut(), make_tracker(language="en", text="STOP", sender_id="g2"))
    assert "we won't send you any more automatic messages" in english.messages[0]["text"]
    not_opt_out = await run_action(ActionJourneyOptOut(), make_tracker(language="es", text="hola", sender_id="g3"))
    assert not_opt_out.messages == [] and not journey_store.opted_out(hotel.id, "g3")


async def test_every_guest_message_is_checked_for_an_opt_out(journey_store, hotel):
    tracker = make_tracker(language="es", text="no más mensajes", sender_id="g4")
    result = await run_action(ActionDetectLanguage(), tracker)
    assert result.events == [] and journey_store.opted_out(hotel.id, "g4")
    await run_action(ActionDetectLanguage(), make_tracker(language="es", text="hola", sender_id="g5"))
    assert not journey_store.opted_out(hotel.id, "g5")


def test_review_wording_follows_party_and_language():
    texts = {(party, lang): compose("review_request", lang, party, FACTS, None, False).text
             for party in ("solo", "couple", "family", "group", "business") for lang in ("es", "en")}
    assert len(set(texts.values())) == 10
    assert "familia" in texts[("family", "es")] and "business trip" in texts[("business", "en")]
    assert all("http://h.test/r/x" in text for text in texts.values())


def test_first_message_says_how_to_stop_and_template_gets_its_parameters():
    template = TemplateRef("opinion_estancia", "es", ("guest_name", "hotel_name"))
    first = compose("review_request", "es", "couple", FACTS, template, True)
    later = compose("review_request", "es", "couple", FACTS, template, False)
    assert "BAJA" in first.text and "BAJA" not in later.text
    assert first.template_parameters == ["Ana", "Hotel Mirador"]


def test_review_link_tokens_are_signed():
    token = make_token("secret", "demo", "BK100001", "google")
    assert read_token("secret", token) == ("demo", "BK100001", "google")
    with pytest.raises(InvalidLink):
        read_token("other-secret", token)
    with pytest.raises(InvalidLink):
        read_token("secret", token[:-2] + "xx")


async def test_review_redirect_counts_the_click_and_goes_to_the_hotels_page(journey_store, hotel):
    from sanic import Sanic

    from actions.config import settings
    from journey.routes import register

    app = Sanic("journey_links_test")
    register(app)
    handler = app.router.find_route_by_view_name("journey_links_test.journey_review_link").handler
    token = make_token(settings().qr_secret, hotel.id, "BK100001", "google")
    reply = await handler(None, token=token)
    assert reply.status == 302 and reply.headers["location"] == hotel.review_links["google"]
    forged = await handler(None, token=make_token("guess", hotel.id, "BK100001", "google"))
    assert forged.status == 404
    assert journey_store.counts(hotel.id)[hotel.id]["review_clicks"] == 1


def test_a_step_in_the_quiet_hours_is_refused():
    with pytest.raises(JourneyConfigError, match="pre_arrival.at"):
        JourneyConfig.from_mapping("demo", {"steps": {"pre_arrival": {"at": "22:30"}}})
    with pytest.raises(JourneyConfigError, match="unknown step"):
        JourneyConfig.from_mapping("demo", {"steps": {"birthday": {}}})


def test_store_opt_out_closes_pending_steps(tmp_path):
    from journey.plan import PlannedStep
    from journey.store import SKIPPED, Target

    store = JourneyStore(f"sqlite:///{tmp_path / 'j.sqlite3'}")
    now = dt.datetime(2027, 3, 1, 10, tzinfo=dt.timezone.utc)
    step = PlannedStep("pre_arrival", now + dt.timedelta(days=1), now + dt.timedelta(days=1, hours=8))
    store.add_steps("demo", "BK1", [step], Target("a@example.com", "gmail", "es", "solo"), now)
    assert store.add_steps("demo", "BK1", [step], Target("a@example.com", "gmail", "es", "solo"), now) == 0  # once
    store.opt_out("demo", "a@example.com", "keyword", "baja", now)
    [row] = store.list_steps("demo", [SKIPPED])
    assert row.detail == "the guest opted out"
    assert store.claim_due(now + dt.timedelta(days=1, hours=1), 60) == []


def test_a_guest_message_after_a_journey_message_counts_as_a_reply(tmp_path):
    from journey.plan import PlannedStep
    from journey.store import Target

    store = JourneyStore(f"sqlite:///{tmp_path / 'j.sqlite3'}")
    now = dt.datetime(2027, 3, 1, 10, tzinfo=dt.timezone.utc)
    step = PlannedStep("pre_arrival", now, now + dt.timedelta(hours=8))
    store.add_steps("demo", "BK1", [step], Target("a@example.com", "gmail", "es", "solo"), now)
    [row] = store.claim_due(now, 60)
    store.finish(row, "sent", now, delivery="email")
    assert guest_messages.handle_guest_message(store, "demo", "a@example.com", "¿tenéis parking?",
                                               now + dt.timedelta(hours=2)) is None
    assert store.counts("demo")["demo"]["replied"] == 1
    assert guest_messages.handle_guest_message(store, "demo", "a@example.com", "Baja", now) == "opted_out"


def test_steps_without_a_contact_wait_for_one(tmp_path):
    from journey.plan import PlannedStep
    from journey.store import NO_CONTACT, PENDING, SKIPPED, Target

    store = JourneyStore(f"sqlite:///{tmp_path / 'j.sqlite3'}")
    now = dt.datetime(2027, 3, 1, 10, tzinfo=dt.timezone.utc)
    step = PlannedStep("arrival_day", now + dt.timedelta(days=1), now + dt.timedelta(days=1, hours=8))
    store.add_steps("demo", "BK1", [step], Target("", "", "es", "solo"), now)
    [row] = store.list_steps("demo", [SKIPPED])
    assert row.detail == NO_CONTACT
    assert store.revive(row.id, step, Target("b@example.com", "gmail", "es", "solo"))
    assert store.get(row.id).status == PENDING and store.get(row.id).conversation_id == "b@example.com"


async def test_an_opt_out_while_staff_talk_is_stored_without_a_bot_reply(journey_store, hotel):
    from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
    from rasa.shared.core.events import ConversationPaused
    from rasa.shared.core.trackers import DialogueStateTracker

    from journey.rasa_turn import opt_out_turn

    tracker = DialogueStateTracker.from_events("34600999888@1", [ConversationPaused()])

    class Processor:  # the two MessageProcessor calls opt_out_turn makes for a paused conversation
        saved = []

        async def log_message(self, message, should_save_tracker=True):
            return tracker

        async def save_tracker(self, tracker_):
            self.saved.append(tracker_)

    output = CollectingOutputChannel()
    reply = await opt_out_turn(Processor(), UserMessage("no más mensajes", output, "34600999888@1",
                                                        metadata={"hotel": {"id": hotel.id}}))
    assert reply == [] and Processor.saved == [tracker]
    assert journey_store.opted_out(hotel.id, "34600999888@1")
