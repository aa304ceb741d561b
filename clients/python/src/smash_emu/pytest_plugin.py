"""pytest fixtures for smash-emu.

- ``smash_emu_server`` (session): one ``smash-emu serve`` on a free port and a Unix
  socket in a temporary directory, stopped (SIGTERM) after the last test.
- ``smash_emu`` (function): a :class:`~smash_emu.Client` on a platform of the
  test's own (``session.attach`` to a new name), deleted after the test
  (``DELETE /platforms/NAME``), so every test starts from the scenario and no test
  sees another's state.

Registered by the package's ``pytest11`` entry point; from a checkout, name it in a
conftest.py: ``pytest_plugins = ["smash_emu.pytest_plugin"]``.
"""

from __future__ import annotations

import itertools
import re
from typing import Iterator

import pytest

from .client import Client
from .server import Server

_counter = itertools.count(1)


def platform_name(test_name: str) -> str:
    """A platform name for a test: [A-Za-z0-9_.-], at most 64 characters, unique in the session."""
    base = re.sub(r"[^A-Za-z0-9_.-]+", "-", test_name).strip("-.") or "test"
    suffix = f"-{next(_counter)}"
    return base[: 64 - len(suffix)] + suffix


@pytest.fixture(scope="session")
def smash_emu_server() -> Iterator[Server]:
    server = Server()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def smash_emu(smash_emu_server: Server, request: pytest.FixtureRequest) -> Iterator[Client]:
    name = platform_name(request.node.name)
    client = smash_emu_server.connect(name)
    try:
        yield client
    finally:
        client.close()
        smash_emu_server.delete_platform(name)
