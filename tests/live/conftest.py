"""Fixtures for the live tests: the fake gateway's (see :mod:`tests.support.gateway`), serving the
live-session harness's bars (:mod:`tests.support.live_session`) unless a module overrides them."""
import pytest

from tests.support.gateway import *  # noqa: F401,F403  (fixtures are found by name)
from tests.support.live_session import gateway_bars, gateway_options  # noqa: F401


@pytest.fixture(autouse=True)
def _journal_state_dir(tmp_path_factory, monkeypatch):
    """Every live test writes its order journal under its own tmp dir, never the user's state dir."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path_factory.mktemp("xdg_state")))
