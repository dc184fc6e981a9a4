"""Staff console on the command line.

    python -m staff conversations [--page N] [--page-size N] [--search TEXT]
    python -m staff transcript CONVERSATION_ID
    python -m staff handoffs
    python -m staff resume REQUEST_ID [--by NAME]     # give the conversation back to the bot
    python -m staff resolve REQUEST_ID [--by NAME]    # mark a request done, bot untouched
    python -m staff reply CONVERSATION_ID TEXT [--by NAME]   # write to the guest on their channel
    python -m staff dlq [--limit N]
    python -m staff retry ENTRY_ID
    python -m staff hash-password [--iterations N]    # for STAFF_USERS

Every command takes --json for machine-readable output. Exit codes: 0 done,
1 failed (a service did not answer or refused; the request was already
resolved), 2 bad input or configuration, 3 not found.
"""
from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import sys
from typing import Any, Callable, List, Optional, Sequence, TextIO

from actions.rasa_api import RasaAPIError
from staff.config import ConfigError, StaffConfig
from staff.console import StaffConsole
from staff.dead_letters import EntryNotFound
from staff.display import format_epoch, format_time, shorten, table, terminal_safe
from staff.handoffs import RequestAlreadyResolved, RequestNotFound
from staff.passwords import DEFAULT_ITERATIONS, MIN_ITERATIONS, hash_password
from staff.tracker_reader import ConversationNotFound, TrackerStoreError

OK, FAILED, BAD_INPUT, NOT_FOUND = 0, 1, 2, 3


class Output:
    def __init__(self, as_json: bool, stream: TextIO) -> None:
        self.as_json, self.stream = as_json, stream

    def emit(self, data: Any, text: Callable[[], str]) -> None:
        if self.as_json:
            print(json.dumps(data, ensure_ascii=False, indent=2, default=str), file=self.stream)
        else:
            print(text(), file=self.stream)


def _default_actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


# -- commands -------------------------------------------------------------------


def cmd_conversations(console: StaffConsole, args, out: Output) -> int:
    page = console.reader.conversations(args.page, args.page_size, args.search or "")
    zone = console.config.timezone

    def text() -> str:
        if not page.items:
            return "No conversations" + (f" matching {terminal_safe(page.search)!r}" if page.search else "") + "."
        rows = [
            (format_time(c.last_activity, zone), c.sender_id, c.channel or "-", c.language or "-",
             "PAUSED" if c.paused else "bot", c.turns, shorten(c.last_guest_text, 50))
            for c in page.items
        ]
        body = table(("LAST ACTIVITY", "CONVERSATION", "CHANNEL", "LANG", "STATE", "TURNS", "LAST GUEST MESSAGE"), rows)
        return f"{body}\n\npage {page.page} of {page.pages} ({page.total} conversations)"

    out.emit(page.as_dict(), text)
    return OK


def cmd_transcript(console: StaffConsole, args, out: Output) -> int:
    transcript = console.reader.transcript(args.conversation_id)
    zone = console.config.timezone

    def text() -> str:
        s = transcript.summary
        head = (f"Conversation {terminal_safe(s.sender_id)}  channel {s.channel or '-'}  language {s.language or '-'}  "
                f"{'PAUSED (staff)' if s.paused else 'bot active'}  {s.turns} guest messages")
        lines = [head, ""]
        for e in transcript.entries:
            lines.append(f"{format_time(e.at, zone)}  {e.kind:<9}  {terminal_safe(e.summary)}")
        return "\n".join(lines)

    out.emit(transcript.as_dict(), text)
    return OK


def cmd_handoffs(console: StaffConsole, args, out: Output) -> int:
    requests = console.handoffs.open_requests()
    zone = console.config.timezone

    def text() -> str:
        if not requests:
            return "No open staff requests."
        rows = [
            (f"#{r.id}", r.kind, "yes" if r.urgent else "", format_time(r.created_at, zone), r.sender_id,
             r.conversation.channel if r.conversation else "-",
             "PAUSED" if r.paused else ("bot" if r.conversation else "unknown"), shorten(r.text, 50))
            for r in requests
        ]
        return table(("ID", "KIND", "URGENT", "CREATED", "CONVERSATION", "CHANNEL", "STATE", "TEXT"), rows)

    out.emit([r.as_dict() for r in requests], text)
    return OK


def cmd_resume(console: StaffConsole, args, out: Output) -> int:
    done = asyncio.run(console.handoffs.resume(args.request_id, args.by))
    out.emit(done.as_dict(), lambda: (
        f"Bot resumed for conversation {terminal_safe(done.sender_id)}; "
        f"resolved request(s) {', '.join(f'#{i}' for i in done.resolved_ids)} (by {done.by})."
    ))
    return OK


def cmd_resolve(console: StaffConsole, args, out: Output) -> int:
    done = console.handoffs.resolve(args.request_id, args.by)
    out.emit(done.as_dict(), lambda: f"Request #{args.request_id} resolved (by {done.by}); the bot was not touched.")
    return OK


async def _reply(console: StaffConsole, args):
    try:
        return await console.replies.reply(args.conversation_id, args.text, args.by)
    finally:
        await console.aclose()


def cmd_reply(console: StaffConsole, args, out: Output) -> int:
    delivery = asyncio.run(_reply(console, args))
    out.emit(delivery.as_dict(), lambda: (
        f"{'Sent' if delivery.status == 'sent' else 'Recorded' if delivery.status == 'recorded' else 'Queued for a resend'} "
        f"on {delivery.channel}{' as the WhatsApp template (outside the 24-hour window)' if delivery.as_template else ''}"
        f"{f' (dead letter {delivery.dead_letter_id})' if delivery.dead_letter_id else ''}"
        f"{'; NOT recorded in the transcript' if not delivery.recorded else ''} (by {args.by})."
    ))
    return OK if delivery.status != "queued" and delivery.recorded else FAILED


def _dead_letter_rows(entries: Sequence[Any], zone, when: Callable[[Any], Optional[float]]) -> List[tuple]:
    return [
        (e.id, e.kind, e.conversation_id or "-", f"{e.attempts}/{e.max_retries}", format_epoch(when(e), zone),
         e.reason, shorten(e.error, 60))
        for e in entries
    ]


async def _dlq_overview(console: StaffConsole, limit: int):
    desk = console.open_dead_letters()
    try:
        return await desk.overview(limit)
    finally:
        await desk.close()


def cmd_dlq(console: StaffConsole, args, out: Output) -> int:
    overview = asyncio.run(_dlq_overview(console, args.limit))
    zone = console.config.timezone

    def text() -> str:
        headers = ("ID", "KIND", "CONVERSATION", "RETRIES", "{}", "REASON", "ERROR")
        parts = [f"Waiting for a retry: {len(overview.queued)}"]
        if overview.queued:
            parts.append(table([h.format("NEXT RETRY") for h in headers],
                               _dead_letter_rows(overview.queued, zone, lambda e: e.next_retry_at)))
        parts.append(f"\nFailed for good: {len(overview.permanent)}")
        if overview.permanent:
            parts.append(table([h.format("LAST TRY") for h in headers],
                               _dead_letter_rows(overview.permanent, zone, lambda e: e.last_retry_at or e.first_failed_at)))
        return "\n".join(parts)

    out.emit(overview.as_dict(), text)
    return OK


async def _retry(console: StaffConsole, entry_id: str):
    desk = console.open_dead_letters()
    try:
        return await desk.retry(entry_id)
    finally:
        await desk.close()


def cmd_retry(console: StaffConsole, args, out: Output) -> int:
    entry = asyncio.run(_retry(console, args.entry_id))
    out.emit(entry.as_dict(), lambda: f"Dead letter {entry.id} ({entry.kind}) is {entry.status}, due now.")
    return OK


def read_new_password(stdin: TextIO) -> str:
    if stdin.isatty():
        first = getpass.getpass("New staff password: ")
        if first != getpass.getpass("Again: "):
            raise ValueError("the two passwords differ")
        return first
    return stdin.readline().rstrip("\r\n")


def cmd_hash_password(args, out: Output, stdin: TextIO) -> int:
    encoded = hash_password(read_new_password(stdin), args.iterations)
    out.emit({"hash": encoded}, lambda: encoded)
    return OK


# -- arguments and errors -------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="machine-readable output")
    parser = argparse.ArgumentParser(prog="python -m staff", description="Hotel assistant staff console", parents=[common])
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = commands.add_parser("conversations", parents=[common], help="conversations, most recent first")
    p.add_argument("--page", type=int, default=1)
    p.add_argument("--page-size", type=int, default=20)
    p.add_argument("--search", default="", help="part of a conversation id")
    p = commands.add_parser("transcript", parents=[common], help="one conversation, every event")
    p.add_argument("conversation_id")
    commands.add_parser("handoffs", parents=[common], help="open staff requests and their conversations")
    for name, purpose in (("resume", "give the conversation back to the bot and resolve its handoffs"),
                          ("resolve", "mark one request done without touching the bot")):
        p = commands.add_parser(name, parents=[common], help=purpose)
        p.add_argument("request_id", type=int)
        p.add_argument("--by", default=_default_actor(), help="who did it (default cli:<login>)")
    p = commands.add_parser("reply", parents=[common], help="write to the guest on their own channel (the bot stays paused)")
    p.add_argument("conversation_id")
    p.add_argument("text")
    p.add_argument("--by", default=_default_actor(), help="who writes (default cli:<login>); shown in the transcript")
    p = commands.add_parser("dlq", parents=[common], help="dead letters: waiting and failed for good")
    p.add_argument("--limit", type=int, default=100)
    p = commands.add_parser("retry", parents=[common], help="retry a dead letter now")
    p.add_argument("entry_id")
    p = commands.add_parser("hash-password", parents=[common], help="hash a password for STAFF_USERS (reads it from the terminal or stdin)")
    p.add_argument("--iterations", type=int, default=DEFAULT_ITERATIONS, help=f"PBKDF2 iterations (≥ {MIN_ITERATIONS})")
    return parser


COMMANDS = {
    "conversations": cmd_conversations, "transcript": cmd_transcript, "handoffs": cmd_handoffs,
    "resume": cmd_resume, "resolve": cmd_resolve, "reply": cmd_reply, "dlq": cmd_dlq, "retry": cmd_retry,
}


def _failure_kind(exc: BaseException) -> Optional[int]:
    """Exit code for errors of the services the console talks to, else None."""
    from sqlalchemy.exc import OperationalError, ProgrammingError

    if isinstance(exc, (RasaAPIError, TrackerStoreError, RequestAlreadyResolved, OperationalError, ProgrammingError)):
        return FAILED
    from connectors.outreach import ConversationUnknown, OutreachError

    if isinstance(exc, ConversationUnknown):
        return NOT_FOUND
    if isinstance(exc, OutreachError):
        return FAILED
    try:
        from dlq.errors import DLQConfigError, DLQError
    except ImportError:
        return None
    if isinstance(exc, DLQConfigError):
        return BAD_INPUT
    if isinstance(exc, DLQError):
        return FAILED
    try:
        from redis.exceptions import RedisError
    except ImportError:
        return None
    return FAILED if isinstance(exc, RedisError) else None


def _describe(exc: BaseException) -> str:
    """A one-line reason; database errors name their kind, not their URL."""
    from sqlalchemy.exc import SQLAlchemyError

    if isinstance(exc, SQLAlchemyError):
        return f"database error ({type(exc).__name__}: {str(getattr(exc, 'orig', exc)).splitlines()[0][:200]})"
    return str(exc) or type(exc).__name__


def main(argv: Optional[Sequence[str]] = None, stdout: TextIO = sys.stdout, stderr: TextIO = sys.stderr,
         stdin: TextIO = sys.stdin) -> int:
    args = build_parser().parse_args(argv)
    out = Output(getattr(args, "json", False), stdout)
    try:
        if args.command == "hash-password":
            return cmd_hash_password(args, out, stdin)
        console = StaffConsole.from_config(StaffConfig.from_env())
        try:
            return COMMANDS[args.command](console, args, out)
        finally:
            console.close()
    except (ConversationNotFound, RequestNotFound, EntryNotFound) as exc:
        print(f"not found: {terminal_safe(str(exc))}", file=stderr)
        return NOT_FOUND
    except (ConfigError, ValueError) as exc:
        code = _failure_kind(exc)
        print(f"error: {terminal_safe(_describe(exc))}", file=stderr)
        return code if code is not None else BAD_INPUT
    except Exception as exc:
        code = _failure_kind(exc)
        if code is None:
            raise
        print(f"failed: {terminal_safe(_describe(exc))}", file=stderr)
        return code


if __name__ == "__main__":
    sys.exit(main())
