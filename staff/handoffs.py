"""Open staff requests (handoffs, incidents, feedback, payment checks) with
the conversation each belongs to, and the two ways to close one:

- ``resume``: give the conversation back to the bot through Rasa's HTTP API
  (``RasaAPI.resume``), then mark the request resolved together with the
  conversation's other open *handoff* requests (the bot answers again for all
  of them). Incident reports and the rest stay open: resuming the bot does not
  fix a broken air conditioner. If Rasa refuses or is down, nothing is marked.
- ``resolve``: mark one request done without touching the conversation.
"""
from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import dataclass
from typing import Any, Dict, List, Optional

from actions.rasa_api import RasaAPI
from actions.staff_requests import StaffRequest, StaffRequestStore
from staff.tracker_reader import ConversationSummary, TrackerReader


class RequestNotFound(LookupError):
    pass


class RequestAlreadyResolved(ValueError):
    def __init__(self, request: StaffRequest) -> None:
        super().__init__(f"request #{request.id} was already resolved by {request.resolved_by or 'someone'}")
        self.request = request


def _utc(moment: Optional[dt.datetime]) -> Optional[dt.datetime]:
    """Stored times are naive UTC."""
    return moment.replace(tzinfo=dt.timezone.utc) if moment is not None else None


@dataclass(frozen=True)
class OpenRequest:
    id: int
    kind: str
    sender_id: str
    text: str
    urgent: bool
    created_at: Optional[dt.datetime]
    conversation: Optional[ConversationSummary]  # None if the tracker store has no such conversation
    booking_ref: str = ""
    media_ref: str = ""  # payment checks: the receipt ("whatsapp:<media id>")

    @property
    def paused(self) -> bool:
        return bool(self.conversation and self.conversation.paused)

    def as_dict(self) -> Dict[str, Any]:
        return {
            "id": self.id, "kind": self.kind, "sender_id": self.sender_id, "text": self.text,
            "urgent": self.urgent, "created_at": self.created_at.isoformat() if self.created_at else None,
            "paused": self.paused,
            "conversation": self.conversation.as_dict() if self.conversation else None,
        }


@dataclass(frozen=True)
class Resolution:
    sender_id: str
    resumed: bool
    resolved_ids: List[int]
    by: str

    def as_dict(self) -> Dict[str, Any]:
        return {"sender_id": self.sender_id, "resumed": self.resumed, "resolved": self.resolved_ids, "by": self.by}


class HandoffDesk:
    def __init__(self, requests: StaffRequestStore, reader: TrackerReader, rasa: RasaAPI) -> None:
        self._requests, self._reader, self._rasa = requests, reader, rasa

    def open_requests(self) -> List[OpenRequest]:
        """Open requests, oldest first, each with its conversation's summary."""
        found = self._requests.open_requests()
        conversations = self._reader.summaries(r.sender_id for r in found)
        return [
            OpenRequest(
                r.id, r.kind, r.sender_id, r.text, bool(r.urgent), _utc(r.created_at), conversations.get(r.sender_id),
                str(getattr(r, "booking_ref", "") or ""), str(getattr(r, "media_ref", "") or ""),
            )
            for r in found
        ]

    def _open_request(self, request_id: int) -> StaffRequest:
        request = self._requests.get(request_id)
        if request is None:
            raise RequestNotFound(f"no staff request #{request_id}")
        if request.status != "open":
            raise RequestAlreadyResolved(request)
        return request

    async def resume(self, request_id: int, by: str) -> Resolution:
        request = await asyncio.to_thread(self._open_request, request_id)
        await self._rasa.resume(request.sender_id)  # RasaAPIError propagates: nothing is marked
        handoffs = await asyncio.to_thread(self._requests.open_requests, "handoff")
        ids = sorted({request.id} | {r.id for r in handoffs if r.sender_id == request.sender_id})
        for each in ids:
            await asyncio.to_thread(self._requests.resolve, each, by)
        return Resolution(request.sender_id, True, ids, by)

    async def resume_conversation(self, sender_id: str, by: str) -> Resolution:
        """Give the conversation back to the bot and close its open handoffs (the page's "Give back")."""
        await self._rasa.resume(sender_id)
        handoffs = await asyncio.to_thread(self._requests.open_requests, "handoff")
        ids = sorted(r.id for r in handoffs if r.sender_id == sender_id)
        for each in ids:
            await asyncio.to_thread(self._requests.resolve, each, by)
        return Resolution(sender_id, True, ids, by)

    def resolve(self, request_id: int, by: str) -> Resolution:
        request = self._open_request(request_id)
        self._requests.resolve(request.id, by)
        return Resolution(request.sender_id, False, [request.id], by)
