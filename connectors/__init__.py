"""Custom Rasa input channels (named in credentials.yml by class path).

- ``connectors.whatsapp.WhatsAppInput``: Meta WhatsApp Cloud API (docs/whatsapp.md).
"""
