"""Custom Rasa input channels (named in credentials.yml by class path).

- ``connectors.whatsapp.WhatsAppInput``: Meta WhatsApp Cloud API (docs/whatsapp.md).
- ``connectors.gmail.GmailInput``: guests who write by e-mail (docs/gmail.md).
- ``connectors.metrics.MetricsInput``: ``GET /webhooks/metrics/``, Prometheus metrics.

Shared by the channels: ``settings`` (how settings are read), ``http_body``
(bounded reads), ``channel_metrics`` (channel_* metrics), ``channel_dlq`` (the
process's dead-letter queue and worker), ``action_retry`` (action-server calls
retried while the action server restarts), ``strict_tracker_store`` (a tracker
store that is down fails the turn instead of Rasa's in-memory fallback).
"""
