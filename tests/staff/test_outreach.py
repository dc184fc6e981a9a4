"""connectors/outreach.py against the fake Graph API, the fake Gmail API and
the fake Rasa HTTP API (which serves the tracker and records what is appended),
with the dead-letter queue in memory."""
from __future__ import annotations

import time

import pytest

from actions.rasa_api import RasaAPI
from connectors.gmail.config import GmailConfig
from connectors.outreach import (
    ConversationUnknown,
    Outreach,
    TemplateRef,
    WindowClosed,
)
from connectors.whatsapp.config import WhatsAppConfig
from dlq import DLQSettings, build_queue
from tests.fakes.gmail_server import GmailServer
from tests.fakes.graph_server import GraphServer
from tests.staff.conftest import RASA_TOKEN

PHONE_ID, WA_ID = "1234567890", "34600111222"
WHATSAPP = f"{WA_ID}@{PHONE_ID}"
GUEST_MAIL, HOTEL_MAIL = "lucia@example.com", "reception@hotel.example"
NOW = 1_800_000_000.0


def user(text, channel, at, metadata=None):
    return {"event": "user", "text": text, "input_channel": channel, "timestamp": at, "metadata": metadata or {},
            "parse_data": {"intent": {"name": "human_handoff", "confidence": 0.9}}}


@pytest.fixture
def graph():
    server = GraphServer(token="graph-token").start()
    yield server
    server.stop()


@pytest.fixture
def gmail():
    server = GmailServer("cid", "csecret", "refresh", address=HOTEL_MAIL).start()
    yield server
    server.stop()


@pytest.fixture
async def outreach(fake_rasa, graph, gmail, tmp_path):
    whatsapp = WhatsAppConfig(verify_token="v", app_secret="s", access_token="graph-token", phone_number_id=PHONE_ID,
                              graph_api_url=graph.url, template_name="hotel_reply", template_language="es",
                              send_retries=0, retry_base_seconds=0.01)
    mail = GmailConfig(client_id="cid", client_secret="csecret", refresh_token="refresh", api_url=gmail.url,
                       token_url=f"{gmail.url}/token", send_retries=0, retry_base_seconds=0.01)
    queue = build_queue(DLQSettings(database_url=f"sqlite:///{tmp_path / 'dlq.sqlite3'}"), record_metrics=False)
    sender = Outreach(RasaAPI(fake_rasa.url, RASA_TOKEN), whatsapp=whatsapp, gmail=mail, queue=queue,
                      sender_name="Hotel Mirador", clock=lambda: NOW)
    yield sender
    await sender.close()
    await queue.close()


def recorded(fake_rasa, conversation_id):
    bots = [e for e in fake_rasa.posted(conversation_id) if e["event"] == "bot"]
    assert len(bots) == 1
    return bots[0]


async def test_whatsapp_inside_the_window_goes_as_text_and_is_recorded_with_its_author(outreach, fake_rasa, graph):
    fake_rasa.seed(WHATSAPP, [user("quiero hablar con una persona", "whatsapp", NOW - 600)])
    delivery = await outreach.send_to_guest(WHATSAPP, "Hola, soy Alice de recepción.", author="alice",
                                            metadata={"staff_request": 7})
    assert delivery.status == "sent" and not delivery.as_template and delivery.recorded
    [sent] = graph.delivered(WA_ID)
    assert sent["type"] == "text" and sent["text"]["body"] == "Hola, soy Alice de recepción."
    assert graph.requests[-1].path == f"/v21.0/{PHONE_ID}/messages"
    event = recorded(fake_rasa, WHATSAPP)
    assert event["text"] == "Hola, soy Alice de recepción."
    assert event["metadata"]["author"] == "alice" and event["metadata"]["staff_request"] == 7
    assert event["metadata"]["outreach"] is True and event["metadata"]["delivery"] == "sent"


async def test_a_guest_known_only_by_a_user_id_is_addressed_by_recipient(outreach, fake_rasa, graph):
    """Meta's business-scoped user ids are sent to with "recipient", never "to" (docs/whatsapp.md)."""
    user_id = "US.13491208655302741918"
    conversation = f"{user_id}@{PHONE_ID}"
    fake_rasa.seed(conversation, [user("hola", "whatsapp", NOW - 600)])
    await outreach.send_to_guest(conversation, "Hola", author="alice")
    fake_rasa.seed(conversation, [user("hola", "whatsapp", NOW - 30 * 3600)])
    await outreach.send_to_guest(conversation, "Hola otra vez", author="alice")
    text, template = graph.delivered(user_id)
    assert text["recipient"] == user_id and "to" not in text and text["type"] == "text"
    assert template["recipient"] == user_id and "to" not in template and template["type"] == "template"


async def test_whatsapp_outside_the_window_goes_as_the_template_carrying_the_text(outreach, fake_rasa, graph):
    fake_rasa.seed(WHATSAPP, [user("hola", "whatsapp", NOW - 25 * 3600)])
    route = await outreach.route(WHATSAPP)
    assert route.window_open is False and route.template.name == "hotel_reply"
    delivery = await outreach.send_to_guest(WHATSAPP, "Tu habitación\n\nestá lista", author="alice")
    assert delivery.as_template
    [sent] = graph.delivered(WA_ID)
    assert sent["type"] == "template" and sent["template"]["name"] == "hotel_reply"
    assert sent["template"]["components"][0]["parameters"] == [{"type": "text", "text": "Tu habitación está lista"}]
    assert recorded(fake_rasa, WHATSAPP)["metadata"]["template"] == "hotel_reply"


async def test_a_given_template_with_its_own_parameters(outreach, fake_rasa, graph):
    fake_rasa.seed(WHATSAPP, [user("hola", "whatsapp", NOW - 30 * 3600)])
    await outreach.send_to_guest(WHATSAPP, "Your QR code", author="journey",
                                 template=TemplateRef("checkin_reminder", "en", ("Lucía", "5 Dec")))
    [sent] = graph.delivered(WA_ID)
    assert sent["template"]["name"] == "checkin_reminder" and sent["template"]["language"] == {"code": "en"}
    assert [p["text"] for p in sent["template"]["components"][0]["parameters"]] == ["Lucía", "5 Dec"]


async def test_window_closed_without_any_template_sends_nothing(outreach, fake_rasa, graph):
    outreach.whatsapp = WhatsAppConfig(**{**outreach.whatsapp.__dict__, "template_name": ""})
    fake_rasa.seed(WHATSAPP, [user("hola", "whatsapp", NOW - 25 * 3600)])
    with pytest.raises(WindowClosed):
        await outreach.send_to_guest(WHATSAPP, "hello", author="alice")
    assert graph.messages() == [] and fake_rasa.posted(WHATSAPP) == []


async def test_graph_saying_the_window_closed_switches_to_the_template(outreach, fake_rasa, graph):
    fake_rasa.seed(WHATSAPP, [user("hola", "whatsapp", NOW - 60)])
    graph.fail_next("messages", 400, code=131047)
    delivery = await outreach.send_to_guest(WHATSAPP, "hello again", author="alice")
    assert delivery.status == "sent" and delivery.as_template
    assert [m["type"] for m in graph.delivered(WA_ID)] == ["template"]


async def test_a_failed_whatsapp_send_goes_to_the_dead_letter_queue(outreach, fake_rasa, graph):
    fake_rasa.seed(WHATSAPP, [user("hola", "whatsapp", NOW - 60)])
    graph.fail_next("messages", 503)
    delivery = await outreach.send_to_guest(WHATSAPP, "we are on it", author="alice")
    assert delivery.status == "queued" and delivery.dead_letter_id
    [entry] = await outreach.queue().list_queued(10)
    assert entry.kind == "whatsapp.send" and entry.conversation_id == WHATSAPP
    assert entry.payload["recipient"] == WA_ID and entry.payload["message"]["text"]["body"] == "we are on it"
    assert entry.payload["fallback_text"] == "we are on it"  # the worker resends as the template outside the window
    assert recorded(fake_rasa, WHATSAPP)["metadata"]["delivery"] == "queued"


async def test_gmail_reply_lands_in_the_guests_thread(outreach, fake_rasa, gmail):
    meta = {"gmail": {"id": "18c01", "thread_id": "thread-42", "message_id": "<guest-1@example.com>",
                      "subject": "Booking question"}, "hotel": {"id": "demo"}}
    fake_rasa.seed(GUEST_MAIL, [user("Can I talk to someone?", "gmail", NOW - 100, meta)])
    delivery = await outreach.send_to_guest(GUEST_MAIL, "Dear Lucía, this is Alice.", author="alice")
    assert delivery.status == "sent" and delivery.channel == "gmail"
    [sent] = gmail.sent_to(GUEST_MAIL)
    message = sent["message"]
    assert sent["threadId"] == "thread-42"
    assert message["In-Reply-To"] == "<guest-1@example.com>" and "<guest-1@example.com>" in message["References"]
    assert message["Subject"] == "Re: Booking question" and HOTEL_MAIL in message["From"]
    assert message.get_content().strip() == "Dear Lucía, this is Alice."
    assert recorded(fake_rasa, GUEST_MAIL)["metadata"]["channel"] == "gmail"


async def test_a_failed_gmail_send_goes_to_the_dead_letter_queue(outreach, fake_rasa, gmail):
    meta = {"gmail": {"id": "18c01", "thread_id": "thread-42", "message_id": "<g@example.com>", "subject": "Hi"}}
    fake_rasa.seed(GUEST_MAIL, [user("hello", "gmail", NOW - 100, meta)])
    gmail.fail_next("send", 500)
    delivery = await outreach.send_to_guest(GUEST_MAIL, "answer", author="alice")
    assert delivery.status == "queued"
    [entry] = await outreach.queue().list_queued(10)
    assert entry.kind == "gmail.send" and entry.payload["thread_id"] == "thread-42"


async def test_a_development_channel_is_only_recorded(outreach, fake_rasa, graph):
    fake_rasa.seed("dev-1", [user("human please", "rest", time.time())])
    delivery = await outreach.send_to_guest("dev-1", "hi from reception", author="alice")
    assert delivery.status == "recorded" and delivery.channel == "rest"
    assert recorded(fake_rasa, "dev-1")["text"] == "hi from reception" and graph.messages() == []


async def test_a_conversation_without_a_guest_message_is_refused(outreach, fake_rasa):
    with pytest.raises(ConversationUnknown):
        await outreach.send_to_guest("nobody", "hello", author="alice")


async def test_delivered_but_not_recorded_says_so(outreach, fake_rasa, graph):
    fake_rasa.seed(WHATSAPP, [user("hola", "whatsapp", NOW - 60)])
    fake_rasa.fail_next(500)
    delivery = await outreach.send_to_guest(WHATSAPP, "hello", author="alice")
    assert delivery.status == "sent" and not delivery.recorded and "not record" in delivery.note
    assert len(graph.delivered(WA_ID)) == 1


async def test_input_is_bounded(outreach):
    for text, author in (("", "alice"), ("x" * 9000, "alice"), ("hello", " ")):
        with pytest.raises(ValueError):
            await outreach.send_to_guest(WHATSAPP, text, author=author)
