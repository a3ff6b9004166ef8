"""Identifiers: time-ordered message ids and W3C trace-context ids.

A message id is a UUIDv7 (RFC 9562) written as 32 lowercase hex digits: the first 48
bits are the Unix time in milliseconds, so ids sort by time and a reader can find a
message's trace records by starting near :func:`timestamp_ms` of its id.
"""

from __future__ import annotations

import os
import threading
import time

# Random bytes are taken from a per-thread pool refilled 4 KB at a time: one system call
# per ~150 messages instead of three per message. A forked child starts with empty
# pools, so it never repeats its parent's ids.
_POOL_BYTES = 4096
_pools = threading.local()


def _random(size: int) -> bytes:
    pool = _pools.__dict__
    data: bytes = pool.get("data", b"")
    start: int = pool.get("at", 0)
    end = start + size
    if end > len(data):
        data, start, end = os.urandom(_POOL_BYTES), 0, size
        pool["data"] = data
    pool["at"] = end
    return data[start:end]


def _forget_pools() -> None:
    global _pools
    _pools = threading.local()


os.register_at_fork(after_in_child=_forget_pools)


def message_id() -> str:
    """A new UUIDv7 as 32 hex digits."""
    millis = time.time_ns() // 1_000_000
    rand = int.from_bytes(_random(10), "big")
    # 48 bits time | 4 bits version (7) | 12 bits random | 2 bits variant | 62 bits random
    value = (millis & 0xFFFF_FFFF_FFFF) << 80
    value |= 0x7 << 76
    value |= (rand >> 68) << 64
    value |= 0b10 << 62
    value |= rand & 0x3FFF_FFFF_FFFF_FFFF
    return f"{value:032x}"


def timestamp_ms(message_id: str) -> int:
    """The creation time (epoch ms) encoded in a message id.

    Raises:
        ValueError: if ``message_id`` is not a 32-hex-digit UUIDv7.
    """
    cleaned = message_id.replace("-", "").lower()
    if len(cleaned) != 32 or cleaned[12] != "7":
        raise ValueError(f"{message_id!r} is not a Lightbus message id (a 32-hex-digit UUIDv7)")
    try:
        return int(cleaned[:12], 16)
    except ValueError:
        raise ValueError(f"{message_id!r} is not a Lightbus message id") from None


def trace_id() -> str:
    """A new W3C trace id: 32 hex digits, never all zero."""
    return _random(16).hex()


def span_id() -> str:
    """A new W3C span id: 16 hex digits."""
    return _random(8).hex()
