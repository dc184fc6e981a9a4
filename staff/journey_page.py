"""The staff console's journey page (``GET /journey``): per hotel, how many
steps are scheduled, sent, failed, skipped, cancelled, the replies, opt-outs
and review-link clicks, then the failed and scheduled steps and the opted-out
guests. Read-only; the journey's own database (JOURNEY_DATABASE_URL, else
ASSISTANT_DATABASE_URL). Registered by ``register(app, staff_only, page)``."""
from __future__ import annotations

import asyncio
import datetime as dt
import functools
import os
from typing import Any, Callable, Dict, Iterable, List, Optional
from zoneinfo import ZoneInfo

from staff.pages import esc

COLUMNS = ("pending", "sent", "failed", "skipped", "cancelled", "replied", "opted_out", "review_clicks")
LIMIT = 100


@functools.lru_cache(maxsize=1)
def _store():
    from actions.config import settings
    from journey.store import JourneyStore

    return JourneyStore(os.environ.get("JOURNEY_DATABASE_URL", "").strip() or settings().assistant_database_url)


def overview(store, hotels: Optional[Iterable[str]] = None) -> Dict[str, Any]:
    """What the page shows, for ``hotels`` (None: every hotel)."""
    wanted: List[Optional[str]] = [None] if hotels is None else sorted(hotels)
    data: Dict[str, Any] = {"counts": {}, "failed": [], "scheduled": [], "recent": [], "optouts": []}
    for hotel_id in wanted:
        data["counts"].update(store.counts(hotel_id))
        data["failed"] += store.list_steps(hotel_id, ["failed", "sending"], LIMIT)
        data["scheduled"] += store.list_steps(hotel_id, ["pending"], LIMIT)
        data["recent"] += store.list_steps(hotel_id, ["sent"], 20)
        data["optouts"] += store.list_optouts(hotel_id, LIMIT)
    data["failed"].sort(key=lambda r: r.due_at, reverse=True)
    data["scheduled"].sort(key=lambda r: r.due_at)
    data["recent"].sort(key=lambda r: r.sent_at or r.due_at, reverse=True)
    data["optouts"].sort(key=lambda o: o["created_at"], reverse=True)
    return data


def _when(moment: Optional[dt.datetime], zone: ZoneInfo) -> str:
    return "" if moment is None else moment.astimezone(zone).strftime("%Y-%m-%d %H:%M")


def _steps_table(rows: List[Any], zone: ZoneInfo, empty: str) -> str:
    if not rows:
        return f"<p>{esc(empty)}</p>"
    lines = "".join(
        f"<tr><td>{esc(r.hotel_id)}</td><td>{esc(r.booking_ref)}</td><td>{esc(r.conversation_id)}</td><td>{esc(r.step)}</td><td>{esc(r.status)}</td>"
        f"<td>{esc(_when(r.due_at, zone))}</td><td>{esc(_when(r.sent_at, zone))}</td><td>{esc(r.channel)}</td>"
        f"<td>{esc(r.delivery)}</td><td>{esc(r.detail)}</td></tr>"
        for r in rows)
    return ("<table><tr><th>hotel</th><th>booking</th><th>guest</th><th>step</th><th>status</th><th>due</th><th>sent</th>"
            f"<th>channel</th><th>as</th><th>detail</th></tr>{lines}</table>")


def journey_body(data: Dict[str, Any], zone: ZoneInfo) -> str:
    counts = data["counts"]
    if counts:
        rows = "".join(f"<tr><td>{esc(hotel)}</td>" + "".join(f"<td>{int(c.get(col, 0))}</td>" for col in COLUMNS)
                       + "</tr>" for hotel, c in sorted(counts.items()))
        summary = ("<table><tr><th>hotel</th>" + "".join(f"<th>{esc(col.replace('_', ' '))}</th>" for col in COLUMNS)
                   + f"</tr>{rows}</table>")
    else:
        summary = "<p>No journey steps yet (is the journey on in the hotel file?).</p>"
    optouts = "".join(f"<tr><td>{esc(o['hotel_id'])}</td><td>{esc(o['guest'])}</td><td>{esc(o['source'])}</td>"
                      f"<td>{esc(_when(o['created_at'].replace(tzinfo=dt.timezone.utc), zone))}</td></tr>"
                      for o in data["optouts"])
    return (
        f"<section class='panel'><h2>Per hotel</h2>{summary}</section>"
        f"<section class='panel'><h2>Failed or interrupted</h2>{_steps_table(data['failed'], zone, 'None.')}</section>"
        f"<section class='panel'><h2>Scheduled (next first)</h2>{_steps_table(data['scheduled'], zone, 'Nothing scheduled.')}</section>"
        f"<section class='panel'><h2>Recently sent</h2>{_steps_table(data['recent'], zone, 'Nothing sent yet.')}</section>"
        "<section class='panel'><h2>Opted out</h2>"
        + (f"<table><tr><th>hotel</th><th>guest</th><th>how</th><th>when</th></tr>{optouts}</table>" if optouts
           else "<p>Nobody.</p>")
        + "</section>"
    )


def register(app, staff_only: Callable, page: Callable, zone: ZoneInfo,
             hotels_of: Callable = lambda request: None, store_factory: Callable = _store) -> None:
    """``hotels_of(request)``: the hotels the signed-in user may see (None: all)."""

    @app.get("/journey")
    @staff_only
    async def journey(request):
        allowed = hotels_of(request)
        asked = (request.args.get("hotel") or "")[:64] or None
        if asked is not None:
            hotels = {asked} if allowed is None or asked in allowed else set()
        else:
            hotels = allowed
        data = await asyncio.to_thread(overview, store_factory(), hotels)
        return page(request, "Proactive journey", journey_body(data, zone), "journey")
