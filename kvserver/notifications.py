"""Keyspace notifications (``notify-keyspace-events``): Redis 7.0's events, published via pub/sub.

``Notifications`` is a listener on the keyspace's change signal, subscribed only while a class
of events is on together with K or E: with the default ``""`` it is not subscribed at all and
a write pays nothing for it. Each event goes to ``__keyspace@<db>__:<key>`` (message: the
event) with K and to ``__keyevent@<db>__:<event>`` (message: the key) with E.

The change signal is translated into Redis's events, in Redis's order:

- ``expired`` (class x), lazy or active, is published at once.
- ``new`` (class n) and ``del`` from the keyspace are held until the command's own event for
  that key arrives, because Redis announces them where the command adds or removes the key:
  SMOVE is "srem" and "del" on the source, then "new" and "sadd" on the destination; a pop that
  empties a list is "lpop" then "del"; EXPIRE in the past, GETDEL and a store command with an
  empty result are "del" alone. ``overwritten`` is not an event in Redis.
- the dispatcher's events (the command's name and a key it changed, after the change) map
  through ``_EVENTS`` to Redis's event name and class; a few depend on the arguments (SET EX
  adds "expire", ZADD INCR is "zincr", LMOVE's directions) or on both keys (RENAME, COPY).
- DEL and UNLINK: the keyspace's "del", then the command's record "del" for the same key.
- an evicted key is announced by the eviction as ``evicted`` (class e) instead of "del".

A command this table does not know publishes nothing (and drops what was held for its keys).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from kvserver.config import KEYSPACE_EVENT_BITS
from kvserver.keyspace import KeyListener, Keyspace
from kvserver.pubsub import PubSub

EVICTED: Final = "evicted"  # the eviction's event on the change signal (memory.py)

_K: Final = KEYSPACE_EVENT_BITS["K"]
_E: Final = KEYSPACE_EVENT_BITS["E"]
_GENERIC: Final = KEYSPACE_EVENT_BITS["g"]
_STRING: Final = KEYSPACE_EVENT_BITS["$"]
_LIST: Final = KEYSPACE_EVENT_BITS["l"]
_SET: Final = KEYSPACE_EVENT_BITS["s"]
_HASH: Final = KEYSPACE_EVENT_BITS["h"]
_ZSET: Final = KEYSPACE_EVENT_BITS["z"]
_STREAM: Final = KEYSPACE_EVENT_BITS["t"]
_EXPIRED: Final = KEYSPACE_EVENT_BITS["x"]
_EVICTED: Final = KEYSPACE_EVENT_BITS["e"]
_NEW: Final = KEYSPACE_EVENT_BITS["n"]
# classes kvserver has events of (no modules or key misses)
_PUBLISHED: Final = _GENERIC | _STRING | _LIST | _SET | _HASH | _ZSET | _STREAM | _EXPIRED | _EVICTED | _NEW

# how a command's event is published (besides its name and class)
_PLAIN: Final = 0  # the event; then "del" if the command emptied the key (a pop, HDEL, ...)
_STORE: Final = 1  # a *STORE: the event if the result exists, "del" if an empty result removed the key
_EXPIRY: Final = 2  # EXPIRE & co, GETEX, GETDEL: "expire" / "persist" by the deadline, "del" if removed
_SET_CMD: Final = 3  # SET: "set", then "expire" with EX / PX / EXAT / PXAT
_SETEX: Final = 4  # SETEX, PSETEX: "set" then "expire"
_ZADD: Final = 5  # "zadd", or "zincr" with INCR
_RENAME: Final = 6  # "new" and "rename_to" on the target, "rename_from" on the source
_COPY: Final = 7  # "new" and "copy_to" on the target
_LMOVE: Final = 8  # push on the destination, then pop (and "del") on the source
_SMOVE: Final = 9  # "srem" (and "del") on the source, then "sadd" on the destination

_EVENTS: Final[dict[str, tuple[int, str, int]]] = {
    # generic
    "del": (_GENERIC, "del", _PLAIN),
    "expire": (_GENERIC, "expire", _EXPIRY),
    "pexpire": (_GENERIC, "expire", _EXPIRY),
    "expireat": (_GENERIC, "expire", _EXPIRY),
    "pexpireat": (_GENERIC, "expire", _EXPIRY),
    "persist": (_GENERIC, "persist", _PLAIN),
    "rename": (_GENERIC, "rename", _RENAME),
    "renamenx": (_GENERIC, "rename", _RENAME),
    "copy": (_GENERIC, "copy_to", _COPY),
    "sort": (_LIST, "sortstore", _STORE),
    "restore": (_GENERIC, "restore", _PLAIN),
    "move_from": (_GENERIC, "move_from", _PLAIN),
    "move_to": (_GENERIC, "move_to", _PLAIN),
    # strings
    "set": (_STRING, "set", _SET_CMD),
    "setex": (_STRING, "set", _SETEX),
    "psetex": (_STRING, "set", _SETEX),
    "setnx": (_STRING, "set", _PLAIN),
    "getset": (_STRING, "set", _PLAIN),
    "mset": (_STRING, "set", _PLAIN),
    "msetnx": (_STRING, "set", _PLAIN),
    "getex": (_GENERIC, "expire", _EXPIRY),
    "getdel": (_GENERIC, "del", _EXPIRY),
    "incr": (_STRING, "incrby", _PLAIN),
    "decr": (_STRING, "incrby", _PLAIN),
    "incrby": (_STRING, "incrby", _PLAIN),
    "decrby": (_STRING, "incrby", _PLAIN),
    "incrbyfloat": (_STRING, "incrbyfloat", _PLAIN),
    "append": (_STRING, "append", _PLAIN),
    "setrange": (_STRING, "setrange", _PLAIN),
    "setbit": (_STRING, "setbit", _PLAIN),
    "bitfield": (_STRING, "setbit", _PLAIN),
    "bitop": (_STRING, "set", _STORE),
    "pfadd": (_STRING, "pfadd", _PLAIN),
    "pfmerge": (_STRING, "pfadd", _PLAIN),
    # lists
    "lpush": (_LIST, "lpush", _PLAIN),
    "lpushx": (_LIST, "lpush", _PLAIN),
    "rpush": (_LIST, "rpush", _PLAIN),
    "rpushx": (_LIST, "rpush", _PLAIN),
    "linsert": (_LIST, "linsert", _PLAIN),
    "lset": (_LIST, "lset", _PLAIN),
    "lrem": (_LIST, "lrem", _PLAIN),
    "ltrim": (_LIST, "ltrim", _PLAIN),
    "lpop": (_LIST, "lpop", _PLAIN),
    "rpop": (_LIST, "rpop", _PLAIN),
    "rpoplpush": (_LIST, "", _LMOVE),
    "brpoplpush": (_LIST, "", _LMOVE),
    "lmove": (_LIST, "", _LMOVE),
    "blmove": (_LIST, "", _LMOVE),
    # sets
    "sadd": (_SET, "sadd", _PLAIN),
    "srem": (_SET, "srem", _PLAIN),
    "spop": (_SET, "spop", _PLAIN),
    "smove": (_SET, "", _SMOVE),
    "sinterstore": (_SET, "sinterstore", _STORE),
    "sunionstore": (_SET, "sunionstore", _STORE),
    "sdiffstore": (_SET, "sdiffstore", _STORE),
    # hashes
    "hset": (_HASH, "hset", _PLAIN),
    "hmset": (_HASH, "hset", _PLAIN),
    "hsetnx": (_HASH, "hset", _PLAIN),
    "hincrby": (_HASH, "hincrby", _PLAIN),
    "hincrbyfloat": (_HASH, "hincrbyfloat", _PLAIN),
    "hdel": (_HASH, "hdel", _PLAIN),
    # geo (sorted sets: GEOADD is zaddCommand, the STORE forms name their own event)
    "geoadd": (_ZSET, "zadd", _ZADD),
    "georadius": (_ZSET, "georadiusstore", _STORE),
    "georadiusbymember": (_ZSET, "georadiusstore", _STORE),
    "geosearchstore": (_ZSET, "geosearchstore", _STORE),
    # sorted sets
    "zadd": (_ZSET, "zadd", _ZADD),
    "zincrby": (_ZSET, "zincr", _PLAIN),
    "zrem": (_ZSET, "zrem", _PLAIN),
    "zremrangebyscore": (_ZSET, "zremrangebyscore", _PLAIN),
    "zremrangebyrank": (_ZSET, "zremrangebyrank", _PLAIN),
    "zremrangebylex": (_ZSET, "zremrangebylex", _PLAIN),
    "zpopmin": (_ZSET, "zpopmin", _PLAIN),
    "zpopmax": (_ZSET, "zpopmax", _PLAIN),
    "zunionstore": (_ZSET, "zunionstore", _STORE),
    "zinterstore": (_ZSET, "zinterstore", _STORE),
    "zdiffstore": (_ZSET, "zdiffstore", _STORE),
    "zrangestore": (_ZSET, "zrangestore", _STORE),
    # streams (kvserver.commands.streams announces the XGROUP and XREADGROUP events by name)
    "xadd": (_STREAM, "xadd", _PLAIN),
    "xtrim": (_STREAM, "xtrim", _PLAIN),
    "xdel": (_STREAM, "xdel", _PLAIN),
    "xsetid": (_STREAM, "xsetid", _PLAIN),
    "xgroup-create": (_STREAM, "xgroup-create", _PLAIN),
    "xgroup-createconsumer": (_STREAM, "xgroup-createconsumer", _PLAIN),
    "xgroup-setid": (_STREAM, "xgroup-setid", _PLAIN),
    "xgroup-destroy": (_STREAM, "xgroup-destroy", _PLAIN),
    "xgroup-delconsumer": (_STREAM, "xgroup-delconsumer", _PLAIN),
}
_SET_EXPIRY_OPTIONS: Final = frozenset({b"EX", b"PX", b"EXAT", b"PXAT"})
_ZADD_OPTIONS: Final = frozenset({b"NX", b"XX", b"GT", b"LT", b"CH", b"INCR"})


def is_active(flags: int) -> bool:
    """True if these flags publish anything: a channel kind (K, E) and a class kvserver has."""
    return bool(flags & (_K | _E)) and bool(flags & _PUBLISHED)


class Notifications(KeyListener):
    """The keyspace's listener that publishes Redis's keyspace events (see the module's text)."""

    def __init__(self, keyspace: Keyspace, pubsub: PubSub, argv: Callable[[], list[bytes]], db: int = 0) -> None:
        self.keyspace = keyspace
        self.pubsub = pubsub
        self.argv = argv  # the running write command's arguments (the dispatcher's)
        self.flags = 0
        self.renumber(db)
        self._new: dict[bytes, None] = {}  # keys the keyspace created, until their command's event
        self._del: dict[bytes, None] = {}  # keys the keyspace removed, until their command's event
        self._done: list[bytes] | None = None  # a two-key command published whole at its first key

    def renumber(self, db: int) -> None:
        self._keyspace_prefix = b"__keyspace@%d__:" % db
        self._keyevent_prefix = b"__keyevent@%d__:" % db

    def retarget(self, keyspace: Keyspace) -> None:
        """SWAPDB: this database's events now come from ``keyspace``."""
        self.keyspace.unsubscribe(self)
        self._forget()
        self.keyspace = keyspace
        self.configure(self.flags)

    def configure(self, flags: int) -> None:
        """Apply ``notify-keyspace-events``: subscribed to the keyspace only when it publishes."""
        self.flags = flags
        if is_active(flags):
            self.keyspace.subscribe(self)
        else:
            self.keyspace.unsubscribe(self)
            self._forget()

    # --- the change signal ---------------------------------------------------------------------

    def key_changed(self, event: str, key: bytes) -> None:
        if event == "expired":
            self._publish(_EXPIRED, "expired", key)
        elif event == "new":
            self._new[key] = None
        elif event == "del":
            if key in self._del:  # DEL / UNLINK: its record after the keyspace's removal
                self._take(key)
                self._publish(_GENERIC, "del", key)
            else:
                self._del[key] = None
        elif event == EVICTED:
            self._take(key)
            self._publish(_EVICTED, "evicted", key)
        elif event != "overwritten":
            self._command(event, key)

    def writing(self, key: bytes) -> None:
        """A write command starts: what an earlier one left held is published now."""
        if self._new or self._del:
            self._release()
        self._done = None

    def flushed(self, keyspace: Keyspace) -> None:
        self._forget()

    # --- translation ---------------------------------------------------------------------------

    def _command(self, name: str, key: bytes) -> None:
        rule = _EVENTS.get(name)
        if rule is None:
            self._take(key)
            return
        kind_class, event, kind = rule
        argv = self.argv()
        if kind >= _RENAME:
            if self._done is argv:  # published whole at the first key
                return
            self._done = argv
            self._two_keys(kind, argv)
            return
        present = key in self.keyspace.data
        new, removed = self._take(key)
        if kind in (_STORE, _EXPIRY):
            if not present:
                if removed:
                    self._publish(_GENERIC, "del", key)
                return
            if kind == _EXPIRY:
                event = "persist" if self.keyspace.deadline(key) is None else "expire"
        if new:
            self._publish(_NEW, "new", key)
        if kind == _ZADD and _has_incr(argv):
            event = "zincr"
        self._publish(kind_class, event, key)
        if kind == _SETEX or (kind == _SET_CMD and any(arg.upper() in _SET_EXPIRY_OPTIONS for arg in argv[3:])):
            self._publish(_GENERIC, "expire", key)
        elif removed and not present:  # the command emptied the key (a pop, HDEL, ZREM, ...)
            self._publish(_GENERIC, "del", key)

    def _two_keys(self, kind: int, argv: list[bytes]) -> None:
        source, target = argv[1], argv[2]
        if kind == _RENAME:  # Redis removes the target and adds it again: always "new"
            self._take(source)
            self._take(target)
            self._publish(_NEW, "new", target)
            self._publish(_GENERIC, "rename_from", source)
            self._publish(_GENERIC, "rename_to", target)
        elif kind == _COPY:  # the only key announced is the target
            self._take(target)
            self._publish(_NEW, "new", argv[2])
            self._publish(_GENERIC, "copy_to", target)
        elif kind == _LMOVE:
            if argv[0].lower() in (b"rpoplpush", b"brpoplpush"):
                pop, push = b"rpop", b"lpush"
            else:
                pop = b"lpop" if argv[3].upper() == b"LEFT" else b"rpop"
                push = b"lpush" if argv[4].upper() == b"LEFT" else b"rpush"
            self._moved(target, push.decode(), _LIST)
            self._popped(source, pop.decode(), _LIST)
        else:  # SMOVE
            self._popped(source, "srem", _SET)
            self._moved(target, "sadd", _SET)

    def _moved(self, key: bytes, event: str, kind_class: int) -> None:
        new, _ = self._take(key)
        if new:
            self._publish(_NEW, "new", key)
        self._publish(kind_class, event, key)

    def _popped(self, key: bytes, event: str, kind_class: int) -> None:
        _, removed = self._take(key)
        self._publish(kind_class, event, key)
        if removed and key not in self.keyspace.data:
            self._publish(_GENERIC, "del", key)

    def _take(self, key: bytes) -> tuple[bool, bool]:
        """What was held for ``key``: (created, removed); no longer held."""
        return self._new.pop(key, 0) is None, self._del.pop(key, 0) is None

    def _release(self) -> None:
        new, removed = self._new, self._del
        self._forget()
        for key in new:
            self._publish(_NEW, "new", key)
        for key in removed:
            self._publish(_GENERIC, "del", key)

    def _forget(self) -> None:
        self._new = {}
        self._del = {}
        self._done = None

    def _publish(self, kind_class: int, event: str, key: bytes) -> None:
        flags = self.flags
        if not flags & kind_class:
            return
        pubsub = self.pubsub
        if not pubsub.channels and not pubsub.patterns:  # nobody can receive it
            return
        name = event.encode()
        if flags & _K:
            pubsub.publish(self._keyspace_prefix + key, name)
        if flags & _E:
            pubsub.publish(self._keyevent_prefix + name, key)


def _has_incr(argv: list[bytes]) -> bool:
    """ZADD's options come before the first score: INCR among them."""
    for arg in argv[2:]:
        option = arg.upper()
        if option not in _ZADD_OPTIONS:
            return False
        if option == b"INCR":
            return True
    return False
