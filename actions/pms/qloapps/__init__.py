"""QloApps webservice backend: transport (HTTP, error mapping), mapping (payloads)
and the PMS class. Facts and decisions: docs/qloapps.md."""
from actions.pms.qloapps.mapping import format_reference, parse_reference
from actions.pms.qloapps.pms import QloAppsPMS

__all__ = ["QloAppsPMS", "format_reference", "parse_reference"]
