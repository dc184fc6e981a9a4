"""End to end with the trained model: a WhatsApp guest and an e-mail (Gmail) guest
each ask for availability and book, the action server books in QloApps (the fake,
QloApps 1.6.1's defaults: phone required, auto-added services dropped unless
sent), and the price each guest was quoted is the order's total.

The model runs in-process (rasa.core.agent, as tests/integration); the messages
carry the conversation ids and metadata the channels give them
(connectors/whatsapp/channel.py: ``<wa_id>@<phone_number_id>`` and
``metadata.whatsapp.wa_id``; connectors/gmail/channel.py: the sender's address
and ``metadata.gmail``). The channels' own HTTP paths have their end-to-end tests
in tests/whatsapp and tests/gmail.
"""
from __future__ import annotations

import asyncio
import re
from decimal import Decimal

import pytest

from tests.fakes.qloapps_server import FakeQloApps
from tests.stack_common import MODEL, ActionServer

pytestmark = [
    pytest.mark.model,
    pytest.mark.skipif(not MODEL.exists(), reason=f"{MODEL} is missing: run `make train` first"),
]

API_KEY = "QLOE2E7H2M9X4P1Z8W5V3N6B0C2D4F6G"
WA_ID, PHONE_NUMBER_ID = "34611222333", "106540352242922"


@pytest.fixture(scope="module")
def qloapps():
    fake = FakeQloApps(api_key=API_KEY).seed_demo()
    for room_type in (11, 12):  # as in QloApps' demo: the maintenance fee is on every room type
        fake.room_types[room_type].services.append(1)
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture(scope="module")
def agent(tmp_path_factory, qloapps):
    workdir = tmp_path_factory.mktemp("qloapps-e2e")
    server = ActionServer(workdir)
    server.env.update(
        PMS_BACKEND="qloapps", QLOAPPS_URL=qloapps.base_url, QLOAPPS_API_KEY=API_KEY,
        QLOAPPS_ROOM_TYPES="single=11,double=12,suite=13,family=14", QLOAPPS_AUTO_SERVICES="1",
    )
    server.start()
    from rasa.core.agent import load_agent
    from rasa.core.utils import AvailableEndpoints
    from rasa.utils.endpoints import EndpointConfig

    from connectors import safeguards

    safeguards.install()
    loop = asyncio.new_event_loop()
    endpoints = AvailableEndpoints(action=EndpointConfig(url=f"{server.url}/webhook"))
    agent = loop.run_until_complete(load_agent(model_path=str(MODEL), endpoints=endpoints))
    agent.test_loop = loop
    try:
        yield agent
    finally:
        loop.close()
        server.stop()


class ChannelGuest:
    def __init__(self, agent, sender_id: str, metadata: dict) -> None:
        self.agent, self.sender_id, self.metadata = agent, sender_id, metadata
        self.questions: list[str] = []

    def say(self, text: str) -> tuple[str, list[dict]]:
        from rasa.core.channels.channel import CollectingOutputChannel, UserMessage

        output = CollectingOutputChannel()
        message = UserMessage(text, output, self.sender_id, input_channel=self.metadata["channel"],
                              metadata=self.metadata)
        self.agent.test_loop.run_until_complete(self.agent.handle_message(message))
        reply = "\n".join(m.get("text") or "" for m in output.messages)
        self.questions.append(reply)
        return reply, output.messages

    def book(self, answers: dict[str, str], start: str) -> str:
        """Answer the reservation form's questions, whatever order it asks them in."""
        reply, messages = self.say(start)
        for _ in range(8):
            buttons = [b for m in messages for b in m.get("buttons") or []]
            room = next((b["payload"] for b in buttons if '"double"' in b.get("payload", "")), None)
            lowered = reply.lower()
            if re.search(r"\bBK\d{6}\b", reply):
                return reply
            if room:
                reply, messages = self.say(room)
            elif "teléfono" in lowered or "phone" in lowered:
                reply, messages = self.say(answers["phone"])
            elif "nombre" in lowered or "name" in lowered:
                reply, messages = self.say(answers["name"])
            elif "personas" in lowered or "how many" in lowered:
                reply, messages = self.say(answers["guests"])
            elif "llegar" in lowered or "arriv" in lowered or "día" in lowered or "date" in lowered:
                reply, messages = self.say(answers["dates"])
            else:
                raise AssertionError(f"unexpected question: {reply!r}")
        raise AssertionError(f"no booking after: {self.questions}")


def quoted_double(reply: str) -> Decimal:
    line = next(line for line in reply.splitlines() if "Double Room" in line)
    return Decimal(re.search(r"(\d+(?:[.,]\d{2}))\s*EUR", line).group(1).replace(",", "."))


def order_for(qloapps: FakeQloApps, reply: str):
    reference = re.search(r"\bBK(\d{6})\b", reply).group(1)
    return qloapps.orders[int(reference)]


def test_whatsapp_guest_books_at_the_quoted_price_with_their_phone(agent, qloapps):
    guest = ChannelGuest(agent, f"{WA_ID}@{PHONE_NUMBER_ID}", {
        "channel": "whatsapp", "hotel": {"id": "demo", "phone_number_id": PHONE_NUMBER_ID},
        "whatsapp": {"wa_id": WA_ID, "phone_number_id": PHONE_NUMBER_ID, "profile_name": "Lucía"}})
    guest.say("hola buenas")
    guest.say("hay habitaciones libres?")
    guest.say("mañana, 3 noches")
    availability, _ = guest.say("somos 2")
    quote = quoted_double(availability)
    assert quote == Decimal("379.50")  # 3 x (90 room + 25 maintenance) + 10 %
    done = guest.book({"dates": "mañana, 3 noches", "guests": "somos 2", "name": "a nombre de lucia fernandez",
                       "phone": "+34 611 222 333"}, "quiero reservar una habitacion")
    order = order_for(qloapps, done)
    assert order.total_incl == quote
    assert f"{quote:.2f}" in done.replace(",", ".")  # the confirmation says the same amount
    assert [s["name"] for s in order.rooms[0]["services"]] == ["Room Maintenance Fees"]
    assert qloapps.customers[order.id_customer]["phone"] == f"+{WA_ID}"
    assert not any("teléfono" in q.lower() for q in guest.questions)  # WhatsApp guests are not asked


def test_gmail_guest_is_asked_for_a_phone_and_books_at_the_quoted_price(agent, qloapps):
    guest = ChannelGuest(agent, "sarah.connor@example.com", {
        "channel": "gmail", "hotel": {"id": "demo"},
        "gmail": {"id": "g1", "thread_id": "t1", "message_id": "<m1@example.com>", "subject": "Booking",
                  "from_name": "Sarah Connor", "attachments": []}})
    guest.say("hello")
    guest.say("any rooms available?")
    guest.say("tomorrow, 3 nights")
    availability, _ = guest.say("2 people")
    quote = quoted_double(availability)
    done = guest.book({"dates": "tomorrow, 3 nights", "guests": "2 people", "name": "Sarah Connor",
                       "phone": "+44 7700 900123"}, "I want to book a room")
    assert any("phone number" in q.lower() for q in guest.questions)  # asked: e-mail gives none
    order = order_for(qloapps, done)
    assert order.total_incl == quote == Decimal("379.50")
    customer = qloapps.customers[order.id_customer]
    assert (customer["email"], customer["phone"]) == ("sarah.connor@example.com", "+447700900123")
