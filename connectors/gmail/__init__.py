"""Gmail channel for Rasa (docs/gmail.md).

credentials.yml::

    connectors.gmail.GmailInput:   # settings from GMAIL_* variables

Modules, one job each: ``config`` (typed settings), ``oauth`` (refresh-token
grant), ``api`` (Gmail REST client with retries), ``normalise`` (MIME ->
body text), ``reply_text`` (body -> what the guest wrote), ``compose`` (threaded
reply MIME), ``thread_reply`` (reply in a guest's thread: the public way to write
to an e-mail guest), ``outbound`` (a turn's bot messages -> one reply; proactive
messages -> replies in the thread), ``store`` (replied/claim dedup in Redis or memory),
``deadletter`` (failed sends), ``poller`` (the mailbox loop), ``channel``
(the Rasa input channel wiring them together).
"""
from connectors.gmail.channel import GmailInput
from connectors.gmail.config import GmailConfig
from connectors.gmail.outbound import GmailOutput

__all__ = ["GmailInput", "GmailConfig", "GmailOutput"]
