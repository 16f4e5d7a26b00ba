"""The append-only log's on-disk format: a versioned header, then CRC-framed msgpack units.

    file   = header frame*
    header = b"KVAOF" 0x01 b"\\r\\n"                      (8 bytes: magic, format version 1)
    frame  = length:u32le payload_crc:u32le header_crc:u32le payload
             payload_crc = crc32(payload), header_crc = crc32(the first 8 bytes of the frame)
    payload = msgpack array of records; a record is an array of byte strings (a command's argv)

A frame is one atomic unit: a command's records, or a whole MULTI/EXEC. The header CRC lets the
reader tell a torn tail (a frame cut short by a crash) from corruption before it (a damaged
length would otherwise look like a frame running past the end). See docs/persistence.md.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from typing import Final

import msgpack

MAGIC: Final = b"KVAOF"
VERSION: Final = 1
HEADER: Final = MAGIC + bytes([VERSION]) + b"\r\n"
FRAME_HEADER: Final = struct.Struct("<III")
_FIELDS: Final = struct.Struct("<II")

OK: Final = "ok"
TORN: Final = "torn"
CORRUPT: Final = "corrupt"


def encode_frame(records: list[list[bytes]]) -> bytes:
    payload = msgpack.packb(records, use_bin_type=True)
    payload_crc = zlib.crc32(payload)
    fields = _FIELDS.pack(len(payload), payload_crc)
    return fields + struct.pack("<I", zlib.crc32(fields)) + payload


def decode_payload(payload: bytes | memoryview) -> list[list[bytes]]:
    records = msgpack.unpackb(payload, raw=False, use_list=True)
    if not isinstance(records, list) or not all(isinstance(r, list) and r for r in records):
        raise ValueError("a frame must hold a list of non-empty records")
    return records


class FrameScanner:
    """Walks the frames of a log image; after iteration, ``status`` says how the walk ended.

    ``status`` is OK (clean end), TORN (the tail is an incomplete or zero-filled frame: cut at
    ``valid_up_to``) or CORRUPT (damage before the tail at ``valid_up_to``: refuse to load).
    """

    def __init__(self, data: bytes | memoryview) -> None:
        self.data = memoryview(data)
        self.status = OK
        self.valid_up_to = 0
        self.problem = ""
        self.frames = 0

    def __iter__(self) -> Iterator[tuple[int, memoryview]]:
        """Yield (offset, payload) for every whole, checksummed frame."""
        data = self.data
        size = len(data)
        if size < len(HEADER):
            if bytes(data) == HEADER[:size] or not any(data):
                self._stop(TORN if size else OK, 0, "incomplete file header")
                return
            self._stop(CORRUPT, 0, "not a kvserver append-only file (bad header)")
            return
        if bytes(data[: len(HEADER)]) != HEADER:
            self._stop(CORRUPT, 0, "not a kvserver append-only file (bad header)")
            return
        offset = len(HEADER)
        unpack = FRAME_HEADER.unpack_from
        crc32 = zlib.crc32
        while offset < size:
            if size - offset < FRAME_HEADER.size:
                self._stop(TORN, offset, "incomplete frame header at the end of the file")
                return
            length, payload_crc, header_crc = unpack(data, offset)
            if crc32(data[offset : offset + 8]) != header_crc:
                if not any(data[offset:]):
                    self._stop(TORN, offset, "zero-filled tail")
                else:
                    self._stop(CORRUPT, offset, "bad frame header checksum")
                return
            start = offset + FRAME_HEADER.size
            end = start + length
            if end > size:
                self._stop(TORN, offset, "incomplete record at the end of the file")
                return
            payload = data[start:end]
            if crc32(payload) != payload_crc:
                if end == size and length and payload[length - 1] == 0:
                    self._stop(TORN, offset, "zero-filled last record")
                else:
                    self._stop(CORRUPT, offset, "bad record checksum")
                return
            yield offset, payload
            self.frames += 1
            offset = end
        self.valid_up_to = offset

    def _stop(self, status: str, offset: int, problem: str) -> None:
        self.status = status
        self.valid_up_to = offset
        self.problem = problem
