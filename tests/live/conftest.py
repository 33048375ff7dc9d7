"""Fixtures for the live tests: the fake gateway's (see :mod:`tests.support.gateway`), serving the
live-session harness's bars (:mod:`tests.support.live_session`) unless a module overrides them."""
from tests.support.gateway import *  # noqa: F401,F403  (fixtures are found by name)
from tests.support.live_session import gateway_bars, gateway_options  # noqa: F401
