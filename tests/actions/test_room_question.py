"""action_ask_room_type: the room question offers only the rooms that fit the party."""
from __future__ import annotations

from actions.room_question import ActionAskRoomType
from tests.conftest import make_tracker, run_action


async def test_a_party_of_three_is_not_offered_a_single_or_a_double():
    result = await run_action(ActionAskRoomType(), make_tracker(slots={"guests": 3}, language="en"))
    message = result.message("utter_ask_room_type_for_party")
    assert [b["title"] for b in message["buttons"]] == ["Family", "Suite"]
    assert message["buttons"][0]["payload"] == '/inform{"room_type":"family"}'
    assert message["guests_text"] == "3 guests"


async def test_one_guest_sees_every_room_in_spanish():
    result = await run_action(ActionAskRoomType(), make_tracker(slots={"guests": 1}))
    message = result.message("utter_ask_room_type_for_party")
    assert [b["title"] for b in message["buttons"]] == ["Individual", "Doble", "Familiar", "Suite"]
    assert message["guests_text"] == "1 persona"
