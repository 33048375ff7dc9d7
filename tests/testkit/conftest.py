"""Fixtures for tests against the fake IB gateway (see :mod:`tests.support.gateway`)."""
from tests.support.gateway import *  # noqa: F401,F403  (fixtures are found by name)
