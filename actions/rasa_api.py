"""Client of Rasa's HTTP API (``rasa run --enable-api --auth-token ...``).

Used for what happens outside a guest's turn: the action server telling a
guest that a saved request went through (``trigger_intent``), staff resuming
a paused conversation (``resume``). The token travels as Rasa expects it, in
the ``token`` query parameter, and never appears in logs or errors.
"""
from __future__ import annotations

import os
from typing import Any, Dict, List, Mapping, Optional
from urllib.parse import quote

import aiohttp

DEFAULT_URL = "http://localhost:5005"


class RasaAPIError(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"Rasa API {status}: {detail}" if status else f"Rasa API unreachable: {detail}")
        self.status = status
        self.detail = detail


class RasaAPI:
    def __init__(self, url: str = "", token: str = "", timeout_seconds: float = 30.0) -> None:
        self.url = (url or DEFAULT_URL).rstrip("/")
        self._token = token
        self.timeout = aiohttp.ClientTimeout(total=timeout_seconds)

    @classmethod
    def from_env(cls) -> "RasaAPI":
        return cls(os.environ.get("RASA_URL", "").strip(), os.environ.get("RASA_TOKEN", "").strip())

    def __repr__(self) -> str:
        return f"RasaAPI({self.url!r})"

    async def _post(self, path: str, body: Any, params: Optional[Mapping[str, str]] = None) -> Dict[str, Any]:
        query = dict(params or {})
        if self._token:
            query["token"] = self._token
        try:
            async with aiohttp.ClientSession(timeout=self.timeout) as session:
                async with session.post(f"{self.url}{path}", json=body, params=query) as reply:
                    text = await reply.text()
                    if reply.status >= 400:
                        raise RasaAPIError(reply.status, text[:300])
                    return await reply.json(content_type=None) if text else {}
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise RasaAPIError(0, type(exc).__name__) from None

    async def _get(self, path: str, params: Optional[Mapping[str, str]] = None) -> Dict[str, Any]:
        query = dict(params or {})
        if self._token:
            query["token"] = self._token
        try:
            async with aiohttp.ClientSession(timeout=self.timeout) as session:
                async with session.get(f"{self.url}{path}", params=query) as reply:
                    text = await reply.text()
                    if reply.status >= 400:
                        raise RasaAPIError(reply.status, text[:300])
                    return await reply.json(content_type=None) if text else {}
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise RasaAPIError(0, type(exc).__name__) from None

    @staticmethod
    def _conversation(conversation_id: str) -> str:
        return "/conversations/" + quote(conversation_id, safe="")

    async def trigger_intent(
        self,
        conversation_id: str,
        intent: str,
        entities: Optional[Mapping[str, Any]] = None,
        output_channel: str = "latest",
    ) -> List[Dict[str, Any]]:
        """Run the bot as if the guest had sent ``intent``; its replies go out
        on ``output_channel`` ("latest": the channel the guest last wrote on).
        Returns the bot messages Rasa reports."""
        reply = await self._post(
            self._conversation(conversation_id) + "/trigger_intent",
            {"name": intent, "entities": dict(entities or {})},
            {"output_channel": output_channel},
        )
        return list(reply.get("messages") or [])

    async def append_events(self, conversation_id: str, events: List[Dict[str, Any]]) -> Dict[str, Any]:
        return await self._post(self._conversation(conversation_id) + "/tracker/events", events)

    async def tracker(self, conversation_id: str, include_events: str = "AFTER_RESTART") -> Dict[str, Any]:
        """The conversation's tracker state (``events``, ``paused``, ``latest_input_channel`` ...)."""
        return await self._get(self._conversation(conversation_id) + "/tracker", {"include_events": include_events})

    async def resume(self, conversation_id: str) -> None:
        """Give a paused conversation back to the bot."""
        await self.append_events(conversation_id, [{"event": "resume"}])
