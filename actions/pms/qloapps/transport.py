"""HTTP to a QloApps webservice, and the one place where its answers become our
exceptions (see docs/qloapps.md, "Errors").

The webservice key is sent only as the HTTP Basic user name (never as the
``ws_key`` query parameter, which would leak it into URLs, proxies and logs) and
is scrubbed from any server text that reaches a message. Every request asks for
``output_format=JSON``.
"""
from __future__ import annotations

import logging
import time
from typing import Any, Mapping

import requests

from actions.pms.base import BookingRejected, PMSError, PMSUnavailable

logger = logging.getLogger(__name__)

# QloApps' validation messages that name what the guest must change.
_PHONE_MESSAGE = "phone number"
_NAME_MESSAGES = ("first name", "last name", "firstname", "lastname")


class NotFound(PMSError):
    """HTTP 404 (internal: the PMS class says which booking was not found)."""


class Rejected(BookingRejected):
    """HTTP 4xx with QloApps' validation messages (``messages``)."""

    def __init__(self, message: str, status: int, messages: list[str], field: str = "other") -> None:
        super().__init__(message, field)
        self.status = status
        self.messages = messages


class QloAppsTransport:
    """One QloApps shop's webservice: ``request()`` answers the decoded JSON (or None)."""

    def __init__(self, base_url: str, api_key: str, *, timeout: float = 5.0,
                 session: requests.Session | None = None) -> None:
        if not base_url:
            raise ValueError("QloApps base_url is required")
        if not api_key:
            raise ValueError("QloApps webservice key is required")
        base = base_url.rstrip("/")
        if base.endswith("/api"):
            base = base[: -len("/api")]
        self.base_url = base
        self._api_url = f"{base}/api"
        self.__key = api_key
        self.timeout = timeout
        self._session = session or requests.Session()
        self._owns_session = session is None
        self.server_version = ""  # PSWS-Version of the last answer (QloApps 1.6.1: "1.6.1.23")

    def __repr__(self) -> str:  # never show the key
        return f"QloAppsTransport(base_url={self.base_url!r})"

    def close(self) -> None:
        if self._owns_session:
            self._session.close()

    def scrub(self, text: str) -> str:
        return text.replace(self.__key, "***") if self.__key else text

    def request(
        self,
        method: str,
        resource: str,
        *,
        params: Mapping[str, str] | None = None,
        json_body: Any = None,
        xml_body: str | None = None,
    ) -> Any:
        query = {"output_format": "JSON"}
        query.update(params or {})
        headers = {"Accept": "application/json"}
        data = None
        if xml_body is not None:
            headers["Content-Type"] = "application/xml"
            data = xml_body.encode("utf-8")
        what = f"QloApps {method} {resource}"
        started = time.monotonic()
        try:
            response = self._session.request(
                method,
                f"{self._api_url}/{resource}",
                params=query,
                json=json_body,
                data=data,
                headers=headers,
                auth=(self.__key, ""),
                timeout=self.timeout,
            )
        except requests.Timeout as exc:
            logger.warning("%s timed out after %ss", what, self.timeout)
            raise PMSUnavailable(f"{what} timed out after {self.timeout}s") from exc
        except requests.RequestException as exc:
            logger.warning("%s failed: %s", what, type(exc).__name__)
            raise PMSUnavailable(f"{what} failed: {type(exc).__name__}") from exc
        status = response.status_code
        version = response.headers.get("PSWS-Version", "")
        if version and version != self.server_version:
            if not version.startswith("1.6."):
                logger.warning("%s: webservice version %s; this client follows QloApps 1.6.1", what, version)
            self.server_version = version
        logger.debug("%s -> HTTP %s in %.0f ms", what, status, (time.monotonic() - started) * 1000)
        self._raise_for(status, response, what, method, resource)
        if not response.content or not response.content.strip():
            return None
        try:
            return response.json()
        except ValueError:
            raise PMSError(f"{what}: answer is not JSON (HTTP {status})") from None

    def _raise_for(self, status: int, response: requests.Response, what: str, method: str, resource: str) -> None:
        if status < 400:
            return
        empty = not (response.content or b"").strip()
        if status == 500 and empty and method in ("POST", "PUT") and resource.startswith("bookings"):
            # QloApps' data validation (Validate::isName on the customer) ends in a
            # PHP fatal error: HTTP 500, no body. The same data fails every time.
            raise BookingRejected(f"{what}: HTTP 500 without a body (QloApps refused the guest's data)", "name")
        if status == 429 or status >= 500:
            raise PMSUnavailable(f"{what}: HTTP {status}")
        if status == 404:
            raise NotFound(f"{what}: not found")
        if status in (401, 403):
            detail = "; ".join(self._error_messages(response)) or "no detail"
            raise PMSError(f"{what}: HTTP {status}, the webservice key was rejected or lacks permission ({detail})")
        messages = self._error_messages(response)
        detail = "; ".join(messages) or "no detail"
        text = detail.lower()
        field = "phone" if _PHONE_MESSAGE in text else "name" if any(m in text for m in _NAME_MESSAGES) else "other"
        raise Rejected(f"{what}: HTTP {status}: {detail}", status, messages, field)

    def _error_messages(self, response: requests.Response) -> list[str]:
        try:
            payload = response.json()
        except ValueError:
            return []
        errors = payload.get("errors") if isinstance(payload, dict) else None
        messages = []
        for err in errors or []:
            if isinstance(err, dict) and err.get("message"):
                messages.append(self.scrub(str(err["message"]))[:300])
        return messages
