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

import io
import os
import struct
import zlib
from collections.abc import Iterator
from typing import BinaryIO, Final

import msgpack

MAGIC: Final = b"KVAOF"
VERSION: Final = 1
HEADER: Final = MAGIC + bytes([VERSION]) + b"\r\n"
FRAME_HEADER: Final = struct.Struct("<III")
_FIELDS: Final = struct.Struct("<II")

OK: Final = "ok"
TORN: Final = "torn"
CORRUPT: Final = "corrupt"


class _Encoder:
    """One msgpack packer for every frame: ``msgpack.packb`` makes a new one per call (with a
    256 KiB buffer), the most of a small frame's cost. A packer keeps the largest buffer it has
    needed, so after a big frame it is replaced. Frames are encoded on the event loop's thread."""

    KEEP: Final = 1 << 20  # bytes of buffer a packer may keep between frames

    def __init__(self) -> None:
        self.packer = msgpack.Packer(use_bin_type=True)

    def encode(self, records: list[list[bytes]]) -> bytes:
        payload: bytes = self.packer.pack(records)
        size = len(payload)
        if size > self.KEEP:
            self.packer = msgpack.Packer(use_bin_type=True)
        payload_crc = zlib.crc32(payload)
        return FRAME_HEADER.pack(size, payload_crc, zlib.crc32(_FIELDS.pack(size, payload_crc))) + payload


_ENCODER: Final = _Encoder()


def encode_frame(records: list[list[bytes]]) -> bytes:
    return _ENCODER.encode(records)


def decode_payload(payload: bytes | memoryview) -> list[list[bytes]]:
    records = msgpack.unpackb(payload, raw=False, use_list=True)
    if not isinstance(records, list) or not all(isinstance(r, list) and r for r in records):
        raise ValueError("a frame must hold a list of non-empty records")
    return records


ZERO_CHECK_CHUNK: Final = 1 << 20


class FrameScanner:
    """Walks the frames of a log, streamed from a file (or from an image in memory); after
    iteration, ``status`` says how the walk ended.

    ``status`` is OK (clean end), TORN (the tail is an incomplete or zero-filled frame: cut at
    ``valid_up_to``) or CORRUPT (damage before the tail at ``valid_up_to``: refuse to load).
    Only one frame is held at a time: reading a log needs memory for its biggest frame, not for
    the file. The walk stops at the size the file had when the scanner was made, so a log that
    is appended to meanwhile is read as of that moment.
    """

    def __init__(self, source: bytes | memoryview | BinaryIO) -> None:
        self.file: BinaryIO
        if isinstance(source, (bytes, memoryview)):
            self.file = io.BytesIO(source)
            self.size = len(source)
        else:
            self.file = source
            self.size = os.fstat(source.fileno()).st_size - source.tell()
        self.status = OK
        self.valid_up_to = 0
        self.problem = ""
        self.frames = 0

    def __iter__(self) -> Iterator[tuple[int, bytes]]:
        """Yield (offset, payload) for every whole, checksummed frame."""
        read = self.file.read
        size = self.size
        head = read(min(size, len(HEADER)))
        if len(head) < len(HEADER):
            if head == HEADER[: len(head)] or not any(head):
                self._stop(TORN if head else OK, 0, "incomplete file header")
                return
            self._stop(CORRUPT, 0, "not a kvserver append-only file (bad header)")
            return
        if head != HEADER:
            self._stop(CORRUPT, 0, "not a kvserver append-only file (bad header)")
            return
        offset = len(HEADER)
        unpack = FRAME_HEADER.unpack
        crc32 = zlib.crc32
        header_size = FRAME_HEADER.size
        while offset < size:
            if size - offset < header_size:
                self._stop(TORN, offset, "incomplete frame header at the end of the file")
                return
            fields = read(header_size)
            if len(fields) < header_size:  # the file shrank while it was read
                self._stop(TORN, offset, "incomplete frame header at the end of the file")
                return
            length, payload_crc, header_crc = unpack(fields)
            if crc32(fields[:8]) != header_crc:
                if not any(fields) and self._rest_is_zero(offset + header_size):
                    self._stop(TORN, offset, "zero-filled tail")
                else:
                    self._stop(CORRUPT, offset, "bad frame header checksum")
                return
            end = offset + header_size + length
            if end > size:
                self._stop(TORN, offset, "incomplete record at the end of the file")
                return
            payload = read(length)
            if len(payload) < length:
                self._stop(TORN, offset, "incomplete record at the end of the file")
                return
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

    def _rest_is_zero(self, offset: int) -> bool:
        """True if every byte from ``offset`` to the end of the log is zero (read in chunks)."""
        while offset < self.size:
            chunk = self.file.read(min(ZERO_CHECK_CHUNK, self.size - offset))
            if not chunk:
                return True
            if chunk.count(0) != len(chunk):
                return False
            offset += len(chunk)
        return True

    def _stop(self, status: str, offset: int, problem: str) -> None:
        self.status = status
        self.valid_up_to = offset
        self.problem = problem
