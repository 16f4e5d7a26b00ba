"""Lua scripting: the engine and the Lua libraries Redis embeds."""
