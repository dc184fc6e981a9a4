"""Server-rendered HTML of the staff web console.

Everything that comes from a guest, the tracker store or a dead letter is
untrusted: it goes through ``esc`` (HTML-escaped, quotes included) before it
reaches the page, links and images are emitted only for http(s) URLs, and the
Content-Security-Policy set by staff/web.py forbids scripts altogether.
"""
from __future__ import annotations

import datetime as dt
from html import escape
from typing import Any, Iterable, List, Optional, Sequence
from urllib.parse import quote, urlencode, urlsplit
from zoneinfo import ZoneInfo

from staff.dead_letters import DeadLetterOverview
from staff.display import format_epoch, format_time, shorten
from staff.handoffs import OpenRequest
from staff.tracker_reader import ConversationPage, Transcript
from staff.transcript import TranscriptEntry, format_value

STYLESHEET = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;background:#f4f5f7;color:#1d2330}
header{background:#1f3a5f;color:#fff;display:flex;align-items:center;gap:1.5rem;padding:.6rem 1.2rem}
header a{color:#fff;text-decoration:none;font-weight:600}header a.here{text-decoration:underline}
header .who{margin-left:auto;display:flex;gap:.6rem;align-items:center}
main{padding:1rem 1.2rem;max-width:1500px}
h1{font-size:1.3rem;margin:.3rem 0 1rem}h2{font-size:1.1rem;margin:1.4rem 0 .5rem}
table{border-collapse:collapse;width:100%;background:#fff;font-size:.92rem}
th,td{border-bottom:1px solid #dde1e7;padding:.45rem .55rem;text-align:left;vertical-align:top}
th{background:#e9edf2;font-weight:600}
td.text{max-width:28rem;min-width:9rem;overflow-wrap:break-word}
td.actions{min-width:8.5rem}.actions input{width:8rem;font:inherit;font-size:.85rem}
.badge{display:inline-block;border-radius:.6rem;padding:.05rem .5rem;font-size:.8rem;font-weight:600}
.paused{background:#ffe2b8;color:#7a4300}.bot{background:#d7f0dc;color:#14532d}.unknown{background:#e5e7eb}
.urgent{background:#fecaca;color:#7f1d1d}
.flash{padding:.6rem .8rem;margin-bottom:1rem;border-radius:.3rem;background:#dbeafe}
.flash.error{background:#fee2e2;color:#7f1d1d}
button{font:inherit;padding:.25rem .7rem;border-radius:.3rem;border:1px solid #1f3a5f;background:#1f3a5f;color:#fff;cursor:pointer}
button.secondary{background:#fff;color:#1f3a5f}
header button{background:#fff;color:#1f3a5f}
form.inline{display:inline}
.transcript{display:flex;flex-direction:column;gap:.45rem;max-width:820px}
.entry{padding:.45rem .7rem;border-radius:.6rem;max-width:75%;overflow-wrap:anywhere}
.entry .meta{font-size:.75rem;color:#5b6472;margin-bottom:.15rem}
.guest{background:#fff;border:1px solid #d5dae1;align-self:flex-start}
.botmsg{background:#dbeafe;align-self:flex-end}
.event{align-self:center;font-size:.82rem;color:#475063;background:#eceff3;max-width:90%}
.event.paused,.event.resumed{font-weight:600}
.chip{display:inline-block;border:1px solid #1f3a5f;border-radius:1rem;padding:.05rem .6rem;margin:.25rem .25rem 0 0;font-size:.82rem;color:#1f3a5f;background:#fff}
.entry img{max-width:240px;display:block;margin-top:.35rem;border-radius:.3rem}
.login{max-width:22rem;margin:4rem auto;background:#fff;padding:1.5rem;border-radius:.5rem;box-shadow:0 1px 4px #0002}
.login label{display:block;margin:.6rem 0 .2rem}.login input{width:100%;box-sizing:border-box;padding:.4rem;font:inherit}
.login button{margin-top:1rem;width:100%}
.pager{margin-top:.8rem;display:flex;gap:1rem;align-items:center}
.search input{padding:.3rem;font:inherit;width:18rem}
.muted{color:#5b6472}
.staffmsg{background:#dcfce7;align-self:flex-end;border:1px solid #86efac}
.waiting{background:#fee2e2;color:#7f1d1d;border-radius:.6rem;padding:.05rem .5rem;font-weight:600}
.layout2{display:flex;gap:1.5rem;align-items:flex-start}.side{min-width:18rem;max-width:22rem;display:flex;flex-direction:column;gap:.8rem}
.panel{background:#fff;border:1px solid #dde1e7;border-radius:.4rem;padding:.7rem}
.panel h2{margin:0 0 .4rem;font-size:1rem}
textarea{width:100%;box-sizing:border-box;font:inherit;min-height:5rem;padding:.4rem}
.notice{background:#fef3c7;border:1px solid #f59e0b;border-radius:.3rem;padding:.4rem .6rem;font-size:.88rem}
.note{font-size:.88rem;border-bottom:1px dashed #dde1e7;padding:.25rem 0}
"""

# The page's only script (served as /staff.js; the CSP allows no other): polls /api/live every
# 2 s for the waiting count and, on a conversation page, the new transcript lines (HTML the
# server escaped); lists reload when the waiting count changes; waiting times tick every second.
SCRIPT = r"""
(function () {
  "use strict";
  var POLL_MS = 2000;
  function waited(seconds) {
    seconds = Math.max(0, Math.floor(seconds));
    if (seconds < 60) return seconds + " s";
    var minutes = Math.floor(seconds / 60);
    if (minutes < 60) return minutes + " min";
    var rest = minutes % 60;
    return Math.floor(minutes / 60) + " h " + (rest < 10 ? "0" : "") + rest + " min";
  }
  function typing() {  // a reason or search half written must not be lost to a reload
    var el = document.activeElement;
    return !!(el && (el.tagName === "INPUT" || el.tagName === "TEXTAREA") && el.value);
  }
  function tick() {
    var now = Date.now() / 1000;
    document.querySelectorAll("[data-since]").forEach(function (el) {
      el.textContent = waited(now - parseFloat(el.getAttribute("data-since")));
    });
  }
  var count = document.getElementById("waiting-count");
  var initial = count ? count.textContent : null;
  var isList = /^\/(handoffs|conversations)$/.test(window.location.pathname);
  function poll() {
    var transcript = document.getElementById("transcript");
    var url = "/api/live";
    if (transcript && transcript.getAttribute("data-conversation")) {
      url += "?id=" + encodeURIComponent(transcript.getAttribute("data-conversation")) +
             "&after=" + encodeURIComponent(transcript.getAttribute("data-last") || "0");
    }
    fetch(url, {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) {
        if (!data) return;
        if (count) count.textContent = data.waiting;
        if (isList && initial !== null && String(data.waiting) !== initial && !typing()) { window.location.reload(); return; }
        if (transcript && data.html) {
          transcript.insertAdjacentHTML("beforeend", data.html);
          transcript.setAttribute("data-last", data.last);
        }
        var state = document.getElementById("state");
        if (state && data.state) state.innerHTML = data.state;
      })
      .catch(function () {})
      .then(function () { window.setTimeout(poll, POLL_MS); });
  }
  tick();
  window.setInterval(tick, 1000);
  window.setTimeout(poll, POLL_MS);
})();
"""

NAV = (("conversations", "/conversations", "Conversations"), ("handoffs", "/handoffs", "Handoffs"),
       ("dlq", "/dlq", "Dead letters"), ("journey", "/journey", "Journey"))
HERE = ' class="here"'
URGENT = ' <span class="badge urgent">urgent</span>'


def esc(value: Any) -> str:
    return escape("" if value is None else str(value), quote=True)


def web_url(url: str) -> Optional[str]:
    """``url`` if it is an absolute http(s) URL (never javascript:, data: ...)."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return None
    return url.strip() if parts.scheme in ("http", "https") and parts.netloc else None


def conversation_href(sender_id: str) -> str:
    return "/conversation?" + urlencode({"id": sender_id}, quote_via=quote)


def csrf_field(csrf: str) -> str:
    return f'<input type="hidden" name="csrf" value="{esc(csrf)}">'


def post_button(action: str, label: str, csrf: str, css: str = "", name: str = "") -> str:
    css_class = f' class="{css}"' if css else ""
    name_attr = f' name="{esc(name)}"' if name else ""
    return (f'<form class="inline" method="post" action="{esc(action)}">{csrf_field(csrf)}'
            f'<button type="submit"{css_class}{name_attr}>{esc(label)}</button></form>')


def layout(title: str, body: str, user: str, csrf: str, here: str = "", refresh_seconds: int = 0,
           waiting: Optional[int] = None, extra_nav: Sequence[tuple] = ()) -> str:
    nav = "".join(
        f'<a href="{href}"{HERE if key == here else ""}>{label}</a>' for key, href, label in tuple(NAV) + tuple(extra_nav)
    )
    if waiting is not None:
        nav += (f'<span class="waiting" title="guests waiting for a person">waiting: '
                f'<span id="waiting-count">{int(waiting)}</span></span>')
    refresh = f'<meta http-equiv="refresh" content="{int(refresh_seconds)}">' if refresh_seconds else ""
    return (
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">{refresh}"
        f"<title>{esc(title)} · Staff console</title><link rel=\"stylesheet\" href=\"/staff.css\">"
        "<script src=\"/staff.js\" defer></script></head><body>"
        f"<header><strong>Staff console</strong>{nav}<span class=\"who\">signed in as <b id=\"user\">{esc(user)}</b>"
        f"{post_button('/logout', 'Log out', csrf, name='logout')}</span></header>"
        f"<main><h1>{esc(title)}</h1>{body}</main></body></html>"
    )


def flash(message: str, error: bool = False) -> str:
    if not message:
        return ""
    return f'<div class="flash{" error" if error else ""}" role="status">{esc(message)}</div>'


def state_badge(paused: Optional[bool]) -> str:
    if paused is None:
        return '<span class="badge unknown">no conversation</span>'
    return '<span class="badge paused">paused · staff</span>' if paused else '<span class="badge bot">bot</span>'


def login_page(csrf: str, next_path: str, error: str = "") -> str:
    return (
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Sign in · Staff console</title>"
        "<link rel=\"stylesheet\" href=\"/staff.css\"></head><body><form class=\"login\" method=\"post\" action=\"/login\">"
        "<h1>Staff console</h1>" + flash(error, error=True) + csrf_field(csrf)
        + f'<input type="hidden" name="next" value="{esc(next_path)}">'
        '<label for="username">User</label><input id="username" name="username" autocomplete="username" required autofocus>'
        '<label for="password">Password</label><input id="password" name="password" type="password" autocomplete="current-password" required>'
        '<button type="submit" id="sign-in">Sign in</button></form></body></html>'
    )


def conversations_body(page: ConversationPage, zone: ZoneInfo) -> str:
    search = (f'<form class="search" method="get" action="/conversations"><input name="q" value="{esc(page.search)}" '
              'placeholder="search by conversation id"> <button type="submit" class="secondary">Search</button></form><p></p>')
    if not page.items:
        return search + '<p class="muted">No conversations' + (f" matching “{esc(page.search)}”" if page.search else "") + ".</p>"
    rows = "".join(
        f'<tr class="conversation"><td>{esc(format_time(c.last_activity, zone))}</td>'
        f'<td><a href="{esc(conversation_href(c.sender_id))}">{esc(c.sender_id)}</a></td>'
        f"<td>{esc(c.channel or '-')}</td><td>{esc(c.language or '-')}</td><td>{state_badge(c.paused)}</td>"
        f'<td>{c.turns}</td><td class="text">{esc(shorten(c.last_guest_text, 120))}</td></tr>'
        for c in page.items
    )
    table = ("<table id=\"conversations\"><thead><tr><th>Last activity</th><th>Conversation</th><th>Channel</th>"
             "<th>Language</th><th>State</th><th>Guest messages</th><th>Last guest message</th></tr></thead>"
             f"<tbody>{rows}</tbody></table>")

    def page_link(number: int, label: str) -> str:
        query = {"page": number, **({"q": page.search} if page.search else {})}
        return f'<a href="/conversations?{esc(urlencode(query))}">{label}</a>'

    pager = '<div class="pager">'
    if page.page > 1:
        pager += page_link(page.page - 1, "← newer")
    pager += f"<span>page {page.page} of {page.pages} · {page.total} conversations</span>"
    if page.page < page.pages:
        pager += page_link(page.page + 1, "older →")
    return search + table + pager + "</div>"


def _entry_html(entry: TranscriptEntry, zone: ZoneInfo) -> str:
    when = esc(format_time(entry.at, zone))
    if entry.kind in ("guest", "bot"):
        css = "guest" if entry.kind == "guest" else ("staffmsg" if entry.author else "botmsg")
        meta = "Guest" if entry.kind == "guest" else (f"Staff · {entry.author}" if entry.author else "Bot")
        if entry.as_template:
            meta += " · sent as WhatsApp template"
        if entry.kind == "guest" and entry.channel:
            meta += f" · {entry.channel}"
        if entry.intent:
            meta += f" · {entry.intent}" + (f" {entry.confidence:.2f}" if entry.confidence is not None else "")
        parts = [f'<div class="meta">{esc(meta)} · {when}</div><div class="text">{esc(entry.text)}</div>']
        parts += [f'<span class="chip" title="{esc(b.payload)}">{esc(b.title)}</span>' for b in entry.buttons]
        for url in entry.images:
            safe = web_url(url)
            parts.append(f'<a href="{esc(safe)}"><img src="{esc(safe)}" alt="image sent by the bot"></a>' if safe
                         else f'<div class="muted">image: {esc(url)}</div>')
        if entry.attachment:
            safe = web_url(entry.attachment)
            parts.append(f'<div><a href="{esc(safe)}">attachment</a></div>' if safe
                         else f'<div class="muted">attachment: {esc(entry.attachment)}</div>')
        return f'<div class="entry {css}">{"".join(parts)}</div>'
    text = f"{entry.slot} = {format_value(entry.value)}" if entry.kind == "slot" and entry.slot else entry.text
    label = {"action": "action", "slot": "slot", "form": "form"}.get(entry.kind, "")
    prefix = f"{label}: " if label else ""
    return f'<div class="entry event {esc(entry.kind)}">{when} · {esc(prefix + text)}</div>'


def entries_html(entries: Iterable[TranscriptEntry], zone: ZoneInfo) -> str:
    return "".join(_entry_html(e, zone) for e in entries)


def transcript_body(transcript: Transcript, zone: ZoneInfo) -> str:
    s = transcript.summary
    head = (f'<p><span id="state">{state_badge(s.paused)}</span> channel <b>{esc(s.channel or "-")}</b> · language <b>{esc(s.language or "-")}</b>'
            f" · {s.turns} guest messages · last activity {esc(format_time(s.last_activity, zone))}"
            ' · <a href="/handoffs">open handoffs</a></p>')
    last = transcript.entries[-1].event_id if transcript.entries else 0
    return (head + f'<div class="transcript" id="transcript" data-conversation="{esc(s.sender_id)}" '
            f'data-last="{int(last)}">{entries_html(transcript.entries, zone)}</div>')


def conversation_body(transcript: Transcript, zone: ZoneInfo, csrf: str, *, route_note: str, can_reply: bool,
                      assignee: str, users: Sequence[str], notes: Sequence[Any], message: str = "",
                      error: bool = False) -> str:
    """The transcript with reception's side panel: reply, claim/assign, give back to the bot, notes."""
    s = transcript.summary
    sid = f'<input type="hidden" name="id" value="{esc(s.sender_id)}">'
    reply = ('<div class="panel" id="reply-panel"><h2>Reply to the guest</h2>'
             + (f'<p class="notice" id="route-note">{esc(route_note)}</p>' if route_note else "")
             + (f'<form method="post" action="/conversation/reply">{csrf_field(csrf)}{sid}'
                '<textarea name="text" id="reply-text" maxlength="4000" required></textarea>'
                '<button type="submit" name="send" id="send-reply">Send</button></form>' if can_reply else "")
             + "</div>")
    options = "".join(f'<option value="{esc(u)}"{" selected" if u == assignee else ""}>{esc(u)}</option>' for u in users)
    work = ('<div class="panel" id="work-panel"><h2>Work</h2>'
            f'<p>Assigned to: <b id="assignee">{esc(assignee or "nobody")}</b></p>'
            f'<form class="inline" method="post" action="/conversation/claim">{csrf_field(csrf)}{sid}'
            '<button type="submit" name="claim" class="secondary">Claim</button></form> '
            f'<form class="inline" method="post" action="/conversation/assign">{csrf_field(csrf)}{sid}'
            f'<select name="assignee">{options}</select> <button type="submit" name="assign" class="secondary">Assign</button></form>'
            + (f'<p><form class="inline" method="post" action="/conversation/resume">{csrf_field(csrf)}{sid}'
               '<button type="submit" name="give-back">Give back to the bot</button></form></p>' if s.paused else "")
            + "</div>")
    note_items = "".join(
        f'<div class="note"><span class="muted">{esc(format_time(n.created_at.replace(tzinfo=dt.timezone.utc), zone))} '
        f'· {esc(n.author)}</span><br>{esc(n.text)}</div>' for n in notes
    )
    notes_panel = ('<div class="panel" id="notes-panel"><h2>Internal notes</h2>'
                   f'<div id="notes">{note_items or "<p class=muted>No notes.</p>"}</div>'
                   f'<form method="post" action="/conversation/note">{csrf_field(csrf)}{sid}'
                   '<textarea name="text" id="note-text" maxlength="4000" required></textarea>'
                   '<button type="submit" name="add-note" class="secondary">Add note (staff only)</button></form></div>')
    return (flash(message, error) + '<div class="layout2"><div>' + transcript_body(transcript, zone) + "</div>"
            f'<div class="side">{reply}{work}{notes_panel}</div></div>')


def waited(since: Optional[dt.datetime], until: Optional[dt.datetime] = None) -> str:
    """How long a guest has waited: '42 s', '12 min', '3 h 05 min' (the page's script keeps it current)."""
    if since is None:
        return "-"
    seconds = max(0, int(((until or dt.datetime.now(dt.timezone.utc)) - since).total_seconds()))
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    return f"{minutes} min" if minutes < 60 else f"{minutes // 60} h {minutes % 60:02d} min"


def handoffs_body(requests: Sequence[OpenRequest], csrf: str, zone: ZoneInfo, message: str = "", error: bool = False,
                  assignees: Optional[dict] = None, answered: Optional[dict] = None) -> str:
    if not requests:
        return flash(message, error) + '<p class="muted">No open staff requests.</p>'
    assignees, answered = assignees or {}, answered or {}
    rows = []
    for r in requests:
        actions = []
        if r.kind == "payment_check":
            actions.append(post_button(f"/payments/{r.id}/approve", "Approve", csrf, name="approve"))
            actions.append(
                f'<form class="inline" method="post" action="/payments/{r.id}/reject">{csrf_field(csrf)}'
                '<input name="reason" placeholder="reason for the guest" maxlength="1000" required> '
                '<button type="submit" class="secondary" name="reject">Reject</button></form>')
            if r.media_ref or (r.conversation and r.conversation.channel == "gmail"):
                actions.append(f'<a href="/payments/{r.id}/receipt" id="receipt-{r.id}">receipt</a>')
        if r.paused:
            actions.append(post_button(f"/handoffs/{r.id}/resume", "Resume bot", csrf, name="resume"))
        actions.append(post_button(f"/handoffs/{r.id}/resolve", "Mark done", csrf, css="secondary", name="resolve"))
        conversation = (f'<a href="{esc(conversation_href(r.sender_id))}">{esc(r.sender_id)}</a>'
                        if r.conversation else esc(r.sender_id))
        if r.id in answered:
            wait = f'<span class="muted">answered after {esc(waited(r.created_at, answered[r.id]))}</span>'
        elif r.created_at is not None:
            wait = (f'<span class="waiting" data-since="{r.created_at.timestamp():.0f}">'
                    f"{esc(waited(r.created_at))}</span>")
        else:
            wait = "-"
        hotel = r.conversation.hotel_id if r.conversation else ""
        rows.append(
            f'<tr class="request" id="request-{r.id}"><td>#{r.id}</td><td>{esc(r.kind)}{URGENT if r.urgent else ""}</td>'
            f"<td>{esc(format_time(r.created_at, zone))}</td><td class=\"wait\">{wait}</td><td>{esc(hotel or '-')}</td>"
            f"<td>{conversation}</td>"
            f"<td>{esc(r.conversation.channel if r.conversation and r.conversation.channel else '-')}</td>"
            f'<td>{state_badge(r.conversation.paused if r.conversation else None)}</td>'
            f'<td>{esc(assignees.get(r.sender_id, "-"))}</td>'
            f'<td class="text">{esc(shorten(r.text, 200))}</td><td class="actions">{" ".join(actions)}</td></tr>'
        )
    return flash(message, error) + (
        "<table id=\"handoffs\"><thead><tr><th>Request</th><th>Kind</th><th>Created</th><th>Waiting</th><th>Hotel</th>"
        "<th>Conversation</th><th>Channel</th><th>State</th><th>Assigned</th><th>Guest said</th><th></th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def _dead_letter_table(table_id: str, entries: Iterable[Any], csrf: str, zone: ZoneInfo, permanent: bool) -> str:
    rows: List[str] = []
    for e in entries:
        when = format_epoch(e.last_retry_at or e.first_failed_at, zone) if permanent else format_epoch(e.next_retry_at, zone)
        conversation = (f'<a href="{esc(conversation_href(e.conversation_id))}">{esc(e.conversation_id)}</a>'
                        if e.conversation_id else "-")
        button = post_button(f"/dlq/{quote(e.id, safe='')}/retry", "Retry" if permanent else "Retry now", csrf, name="retry")
        rows.append(
            f'<tr class="dead-letter" id="dl-{esc(e.id)}"><td><code>{esc(e.id)}</code></td><td>{esc(e.kind)}</td>'
            f"<td>{conversation}</td><td>{e.attempts}/{e.max_retries}</td><td>{esc(when)}</td><td>{esc(e.reason)}</td>"
            f'<td class="text">{esc(shorten(e.error, 200))}</td><td>{button}</td></tr>'
        )
    when_header = "Last try" if permanent else "Next retry"
    return (f'<table id="{table_id}"><thead><tr><th>Id</th><th>Kind</th><th>Conversation</th><th>Retries</th>'
            f"<th>{when_header}</th><th>Reason</th><th>Error</th><th></th></tr></thead><tbody>{''.join(rows)}</tbody></table>")


def dlq_body(overview: Optional[DeadLetterOverview], csrf: str, zone: ZoneInfo, message: str = "", error: bool = False) -> str:
    body = flash(message, error)
    if overview is None:
        return body
    body += f"<h2>Waiting for a retry ({len(overview.queued)})</h2>"
    body += _dead_letter_table("queued", overview.queued, csrf, zone, False) if overview.queued else '<p class="muted">Nothing waiting.</p>'
    body += f"<h2>Failed for good ({len(overview.permanent)})</h2>"
    body += (_dead_letter_table("permanent", overview.permanent, csrf, zone, True) if overview.permanent
             else '<p class="muted">No permanent failures.</p>')
    return body


def audit_body(entries: Sequence[Any], zone: ZoneInfo, conversation_id: str = "", booking: str = "") -> str:
    form = ('<form class="search" method="get" action="/audit">'
            f'<input name="conversation" value="{esc(conversation_id)}" placeholder="conversation id"> '
            f'<input name="booking" value="{esc(booking)}" placeholder="booking reference"> '
            '<button type="submit" class="secondary">Filter</button></form><p></p>')
    if not entries:
        return form + '<p class="muted">No audit entries.</p>'
    rows = "".join(
        f'<tr class="audit-entry"><td>{esc(format_time(e.at.replace(tzinfo=dt.timezone.utc), zone))}</td>'
        f"<td>{esc(e.actor)}</td><td>{esc(e.action)}</td>"
        f"<td>{(f'<a href={chr(34)}{esc(conversation_href(e.conversation_id))}{chr(34)}>{esc(e.conversation_id)}</a>') if e.conversation_id else '-'}</td>"
        f"<td>{esc(e.channel or '-')}</td><td>{esc(e.booking_ref or '-')}</td>"
        f'<td class="text">{esc(shorten(format_value(e.details), 200)) if e.details else ""}</td></tr>'
        for e in entries
    )
    return form + ('<table id="audit"><thead><tr><th>When</th><th>Who</th><th>What</th><th>Conversation</th>'
                   f"<th>Channel</th><th>Booking</th><th>Details</th></tr></thead><tbody>{rows}</tbody></table>")


def error_page(status: int, message: str) -> str:
    return (f"<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{status}</title>"
            f"<link rel=\"stylesheet\" href=\"/staff.css\"></head><body><main><h1>{status}</h1><p>{esc(message)}</p>"
            '<p><a href="/conversations">Staff console</a></p></main></body></html>')
