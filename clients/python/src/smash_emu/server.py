"""Starts ``smash-emu serve`` as a child process on a free port and a Unix socket,
and deletes named platforms over HTTP (``DELETE /platforms/NAME``).

Which command runs: ``$SMASH_EMU_COMMAND`` (split on spaces) when set; else, in a
checkout, ``node bin/smash-emu.mjs`` of the checkout this package sits in (node
from ``$SMASH_EMU_NODE`` or the PATH); else ``smash-emu`` on the PATH. The other
``SMASH_EMU_*`` variables reach the server as its settings (``--port`` and
``--unix`` are always given).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import List, Optional, Sequence

from .client import Client

READY = re.compile(r"^smash-emu listening on (ws://(\S+):(\d+))$")


def serve_command() -> List[str]:
    """The command that starts the server, without ``serve`` and its flags."""
    explicit = os.environ.get("SMASH_EMU_COMMAND")
    if explicit:
        return explicit.split()
    here = Path(__file__).resolve().parents
    # clients/python/src/smash_emu/server.py in a checkout: the checkout's root is four levels up.
    checkout_bin = here[4] / "bin" / "smash-emu.mjs" if len(here) > 4 else None
    if checkout_bin is not None and checkout_bin.is_file():
        node = os.environ.get("SMASH_EMU_NODE") or shutil.which("node")
        if node is None:
            raise RuntimeError("smash-emu needs Node.js: put node on the PATH or set SMASH_EMU_NODE")
        return [node, str(checkout_bin)]
    installed = shutil.which("smash-emu")
    if installed is None:
        raise RuntimeError("cannot find smash-emu: set SMASH_EMU_COMMAND (e.g. 'npx smash-emu') or put smash-emu on the PATH")
    return [installed]


class Server:
    """A running ``smash-emu serve --port 0 --unix PATH``; :meth:`stop` ends it with SIGTERM."""

    def __init__(self, extra_args: Sequence[str] = (), ready_timeout: float = 60.0) -> None:
        self._dir = tempfile.mkdtemp(prefix="smash-emu-")
        self.unix_path = os.path.join(self._dir, "smash-emu.sock")
        args = [*serve_command(), "serve", "--port", "0", "--unix", self.unix_path, *extra_args]
        self._proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self._stderr: List[str] = []
        threading.Thread(target=self._drain_stderr, daemon=True).start()
        ready = self._wait_ready(ready_timeout)
        self.url, self.host, self.port = ready.group(1), ready.group(2), int(ready.group(3))
        self.token = os.environ.get("SMASH_EMU_TOKEN") or None

    def _drain_stderr(self) -> None:
        assert self._proc.stderr is not None
        for line in self._proc.stderr:
            self._stderr.append(line)

    def _wait_ready(self, timeout: float) -> "re.Match[str]":
        assert self._proc.stdout is not None
        found: List["re.Match[str]"] = []

        def read() -> None:
            assert self._proc.stdout is not None
            line = self._proc.stdout.readline()
            m = READY.match(line.rstrip("\n"))
            if m is not None:
                found.append(m)

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        reader.join(timeout)
        if not found:
            self._proc.kill()
            self._proc.wait()
            raise RuntimeError(f"smash-emu serve did not print its ready line (exit {self._proc.returncode}): {''.join(self._stderr)}")
        return found[0]

    @property
    def stderr(self) -> str:
        return "".join(self._stderr)

    def connect(self, platform: Optional[str] = None) -> Client:
        """A new line-transport connection (on ``platform`` when given)."""
        return Client.connect(self.unix_path, platform)

    def delete_platform(self, name: str) -> bool:
        """``DELETE /platforms/NAME``: True when it existed (its connections are closed)."""
        request = urllib.request.Request(f"http://{self.host}:{self.port}/platforms/{urllib.parse.quote(name)}", method="DELETE")
        if self.token is not None:
            request.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return bool(response.status == 200)
        except urllib.error.HTTPError as e:
            if e.code == 404:
                return False
            raise

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM, then wait: the server closes its clients, removes its socket and exits 0."""
        if self._proc.poll() is None:
            self._proc.send_signal(signal.SIGTERM)
            try:
                self._proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        if self._proc.stdout is not None:
            self._proc.stdout.close()
        shutil.rmtree(self._dir, ignore_errors=True)
        return int(self._proc.returncode)
