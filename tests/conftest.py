"""The CLI sets process-wide logging (levels, a root handler) for its verbosity. Tests that call it
in this process, directly or from a module-scoped fixture, must not leave that to the next test:
after every test the logging state is put back as it was when the tests started."""

import logging

import pytest

from retain import console

_PRISTINE_STATE = dict(console._state)
_PRISTINE_HANDLERS = list(logging.getLogger().handlers)
_PRISTINE_LEVELS = {name: logging.getLogger(name).level for name in ("", "retain", *console.THIRD_PARTY_LOGGERS)}


@pytest.fixture(autouse=True)
def _restore_logging():
    yield
    console._state.update(_PRISTINE_STATE)
    logging.getLogger().handlers[:] = [h for h in logging.getLogger().handlers
                                       if h in _PRISTINE_HANDLERS or not getattr(h, "_retain", False)]
    for name, level in _PRISTINE_LEVELS.items():
        logging.getLogger(name or None).setLevel(level)
