"""smash-emu from Python: a client of the line transport and pytest fixtures (standard library only)."""

from .client import Client, ConnectionClosed, Notification, RpcError, hexs, to_int
from .server import Server

__all__ = ["Client", "ConnectionClosed", "Notification", "RpcError", "Server", "hexs", "to_int"]
__version__ = "0.1.0"
