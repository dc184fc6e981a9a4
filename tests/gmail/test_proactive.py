"""Messages the hotel starts (trigger_intent, staff) reach an e-mail guest in the guest's thread:
the channel against the fake Gmail API and Rasa's own in-memory tracker store."""
from __future__ import annotations

import email
from types import SimpleNamespace

import pytest
from rasa.core.tracker_store import InMemoryTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from connectors.gmail import GmailInput
from connectors.gmail.api import GmailError
from connectors.gmail.deadletter import KIND_SEND
from connectors.gmail.outbound import GmailThreadOutput
from connectors.gmail.store import MemoryStore
from connectors.gmail.thread_reply import GuestThread, NoGuestThread, reply_to_guest_thread
from tests.gmail.conftest import guest_address, mail, make_config
from tests.gmail.test_channel import Bot


class Agent:
    """What the channel reads of Rasa's agent: its tracker store (a real one)."""

    def __init__(self) -> None:
        self.tracker_store = InMemoryTrackerStore(Domain.empty())

    def is_ready(self) -> bool:
        return True


@pytest.fixture
async def channel(gmail):
    made = GmailInput(make_config(gmail, send_retries=1), store=MemoryStore(3600))
    made._app = SimpleNamespace(ctx=SimpleNamespace(agent=Agent()))  # what after_server_start sets
    yield made
    await made.client.close()


async def guest_wrote(gmail, channel, text="Quiero reservar", subject="Reserva", references=("<first@x>",)):
    """A real mail answered by the channel; the tracker gets the user event Rasa would store."""
    guest = guest_address()
    stored = gmail.deliver(mail(text, sender=guest, subject=subject, references=list(references)).as_bytes())
    bot = Bot()
    await channel.poller.poll_once(bot)
    (message,) = bot.received
    tracker = DialogueStateTracker(guest, [])
    tracker.update(UserUttered(message.text, input_channel=message.input_channel, metadata=message.metadata))
    await channel._app.ctx.agent.tracker_store.save(tracker)
    return guest, stored


async def test_a_proactive_message_is_a_reply_in_the_guests_thread(gmail, channel):
    guest, stored = await guest_wrote(gmail, channel)
    guest_message_id = email.message_from_bytes(stored.raw)["Message-ID"]
    output = channel.get_output_channel()
    assert isinstance(output, GmailThreadOutput)
    await output.send_response(guest, {"text": "Su solicitud HM-1234 está confirmada."})
    first_reply, notice = gmail.sent_to(guest)
    assert notice["threadId"] == stored.thread_id == first_reply["threadId"]
    message = notice["message"]
    assert message["In-Reply-To"] == guest_message_id
    assert message["References"].split() == ["<first@x>", guest_message_id]
    assert message["Subject"] == "Re: Reserva" and message["To"] == guest
    assert message.get_content().strip() == "Su solicitud HM-1234 está confirmada."


async def test_each_bot_message_is_one_mail_with_its_buttons_and_the_numbered_answer_works(gmail, channel):
    guest, _ = await guest_wrote(gmail, channel)
    output = channel.get_output_channel()
    await output.send_response(guest, {"text": "¿Confirmo?", "buttons": [{"title": "Sí", "payload": "/affirm"}]})
    await output.send_text_message(guest, "Gracias")
    bodies = [s["message"].get_content() for s in gmail.sent_to(guest)[1:]]
    assert bodies[0].startswith("¿Confirmo?\n  1. Sí") and bodies[1].strip() == "Gracias"
    gmail.deliver(mail("1", sender=guest).as_bytes())
    bot = Bot()
    await channel.poller.poll_once(bot)
    assert bot.received[-1].text == "/affirm"


async def test_a_conversation_without_a_gmail_message_raises_instead_of_dropping(gmail, channel):
    tracker = DialogueStateTracker("web-user-1", [])
    tracker.update(UserUttered("hola", input_channel="rest"))
    await channel._app.ctx.agent.tracker_store.save(tracker)
    output = channel.get_output_channel()
    with pytest.raises(NoGuestThread):
        await output.send_text_message("web-user-1", "hola")
    with pytest.raises(NoGuestThread):
        await output.send_text_message("nobody@example.com", "hola")
    assert gmail.sent == []


async def test_a_refused_proactive_message_goes_to_the_dead_letter_queue(gmail, channel, dlq_queue):
    guest, stored = await guest_wrote(gmail, channel)
    channel.queue = dlq_queue
    gmail.fail_next("send", 503, times=2)
    await channel.get_output_channel().send_text_message(guest, "Su reserva está lista")
    (entry,) = await dlq_queue.list_queued()
    assert entry.kind == KIND_SEND and entry.payload["thread_id"] == stored.thread_id


async def test_without_a_queue_a_refused_proactive_message_raises(gmail, channel):
    guest, _ = await guest_wrote(gmail, channel)
    gmail.fail_next("send", 503, times=2)
    with pytest.raises(GmailError):
        await channel.get_output_channel().send_text_message(guest, "Su reserva está lista")


async def test_the_public_reply_function_from_tracker_events(gmail, channel):
    """What connectors/outreach.py does: the thread from the tracker's JSON events, then one call."""
    guest, stored = await guest_wrote(gmail, channel, subject="Re: Reserva")
    tracker = await channel._app.ctx.agent.tracker_store.retrieve(guest)
    events = [e.as_dict() for e in tracker.events] + [{"event": "user", "input_channel": "rest", "metadata": {}}]
    thread = GuestThread.from_events(guest, events)
    sent_id = await reply_to_guest_thread(channel.client, thread, "Hola de recepción", sender="reservas@hotel-mirador.example")
    last = gmail.sent_to(guest)[-1]
    assert sent_id and last["threadId"] == stored.thread_id and last["message"]["Subject"] == "Re: Reserva"
    with pytest.raises(NoGuestThread):
        GuestThread.from_events(guest, [{"event": "user", "input_channel": "whatsapp", "metadata": {}}])
