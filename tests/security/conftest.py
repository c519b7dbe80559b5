"""The security tests' helpers are in tests/support/leaks.py; named here too
for tests written before tests/support/ (import them from there)."""
from tests.support.leaks import *  # noqa: F401,F403
