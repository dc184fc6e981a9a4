"""Meta WhatsApp Cloud API channel for Rasa (docs/whatsapp.md).

credentials.yml::

    connectors.whatsapp.WhatsAppInput:   # settings from WHATSAPP_* variables

Modules, one job each: ``config`` (typed settings), ``signature`` (webhook
HMAC), ``inbound`` (payload parsing), ``store`` (dedup, leases, service
window in Redis or memory), ``turn_lease`` (one turn at a time per message),
``dispatch`` (ordered background work), ``graph`` (Graph API client with
retries), ``speech`` (OGG/Opus -> Vosk text), ``sender`` (one send, template
outside the 24 h window), ``outbound`` (Rasa messages -> WhatsApp messages),
``deadletter`` (failed sends and the inbound journal in the dead-letter
queue), ``channel`` (the Rasa input channel wiring them together).
"""
from connectors.whatsapp.channel import WhatsAppInput
from connectors.whatsapp.config import WhatsAppConfig
from connectors.whatsapp.outbound import WhatsAppOutput

__all__ = ["WhatsAppInput", "WhatsAppConfig", "WhatsAppOutput"]
