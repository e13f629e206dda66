"""Redis Cluster's slot map: which master owns the hash slot of a channel (and its key).

A channel and its last-value key have the same name (design §2.1), so they hash to the same slot
and one pipelined batch per master carries both the ``SPUBLISH`` and the ``SET``.
"""

from __future__ import annotations

import asyncio

import hiredis

SLOTS = 16384


def _crc16_table() -> list[int]:
    # CRC16-CCITT (XMODEM), polynomial 0x1021: the function the cluster spec names
    table = []
    for byte in range(256):
        crc = byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
        table.append(crc & 0xFFFF)
    return table


_TABLE = _crc16_table()


def crc16(data: bytes) -> int:
    crc = 0
    for byte in data:
        crc = ((crc << 8) & 0xFFFF) ^ _TABLE[((crc >> 8) ^ byte) & 0xFF]
    return crc


def key_slot(key: bytes) -> int:
    """The hash slot of a key or sharded channel, honouring ``{hash tags}``."""
    start = key.find(b"{")
    if start >= 0:
        end = key.find(b"}", start + 1)
        if end > start + 1:
            key = key[start + 1 : end]
    return crc16(key) % SLOTS


class SlotMap:
    """``owner[slot]`` is the (host, port) of the master serving that slot."""

    def __init__(self, ranges: list[tuple[int, int, str, int]]) -> None:
        self.owner: list[tuple[str, int] | None] = [None] * SLOTS
        for start, end, host, port in ranges:
            for slot in range(start, end + 1):
                self.owner[slot] = (host, port)
        self.masters = sorted({(h, p) for _, _, h, p in ranges})

    @property
    def complete(self) -> bool:
        return all(owner is not None for owner in self.owner)

    @classmethod
    def from_cluster_slots(cls, reply: object, fallback_host: str) -> SlotMap:
        """Parse a ``CLUSTER SLOTS`` reply: [[start, end, [host, port, id, ...], replicas...]]."""
        if not isinstance(reply, list):
            raise ValueError(f"unexpected CLUSTER SLOTS reply: {reply!r}")
        ranges = []
        for entry in reply:
            start, end, master = entry[0], entry[1], entry[2]
            host = master[0].decode() if isinstance(master[0], bytes) else str(master[0] or "")
            # an empty or "?" host means "the address you reached me on" (cluster-announce unset)
            if host in ("", "?"):
                host = fallback_host
            ranges.append((int(start), int(end), host, int(master[1])))
        return cls(ranges)


async def read_reply(reader: asyncio.StreamReader, parser: hiredis.Reader) -> object:
    while True:
        reply = parser.gets()
        if reply is not False:
            return reply
        data = await reader.read(1 << 16)
        if not data:
            raise ConnectionError("redis closed the connection")
        parser.feed(data)
