"""`python faulty_retain.py <retain arguments>`: the `retain` command with the fault injector that
RETAIN_FAULT describes installed first (injector.py), for the tests that kill a run in a subprocess."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from injector import install_from_environment  # noqa: E402

if __name__ == "__main__":
    install_from_environment()
    from retain.cli import main

    sys.exit(main(sys.argv[1:]))
