"""Secure server-side sessions on kvserver, Redis or Valkey (see docs/sessions.md)."""
