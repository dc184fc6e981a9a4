"""Fixtures of the security tests: the machine's Redis for the end-to-end stack."""
from tests.stack_common import redis_url  # noqa: F401  (fixture)
