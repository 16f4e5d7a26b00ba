"""kvserver: a persistent, RESP-compatible key-value server for server-side sessions."""

__version__ = "0.1.0"
