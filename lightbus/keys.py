"""Every Redis key Lightbus uses is built here.

The layout, for the default prefix ``lightbus``:

=====================================  ==========  =================================================
key                                    type        holds
=====================================  ==========  =================================================
``lightbus:event:<api>.<name>``        stream      one entry per fired event (field ``m``)
``lightbus:rpc:<api>``                 list        RPC calls waiting for a worker (RPUSH/BLPOP)
``lightbus:reply:<process>:<nonce>``   list        results for one calling process, with a TTL
``lightbus:trace``                     stream      one record per step of every message
``lightbus:delayed:<api>.<name>``      zset        delayed events' messages, scored by due time (ms)
``lightbus:dead:<api>.<name>``         stream      events given up on, with the error
``lightbus:redriven:<api>.<name>``     hash        dead-letter id -> id of its redrive (replay)
``lightbus:handback:<group>``          stream      a note per hand-back of a listener group's events
``lightbus:schema:<api>``              string      the JSON schema of an API, with a TTL
``lightbus:workers``                   hash        process name -> heartbeat JSON
``lightbus:schedule:<name>``           string      lock so one worker runs each scheduled tick
``lightbus:schedule-last:<name>``      string      when a schedule last ran (tick, ms): catch_up
=====================================  ==========  =================================================

Consumer groups on an event stream are named ``<service>.<listener>``; each worker
process is a consumer named by its process name.
"""

from __future__ import annotations


class Keys:
    """Builds key names under one prefix."""

    __slots__ = ("prefix", "trace", "workers")

    def __init__(self, prefix: str = "lightbus") -> None:
        self.prefix = prefix
        self.trace = f"{prefix}:trace"
        self.workers = f"{prefix}:workers"

    def event_stream(self, api: str, name: str) -> str:
        return f"{self.prefix}:event:{api}.{name}"

    def delayed(self, api: str, name: str) -> str:
        """Delayed events of ``api.name`` waiting for their time (:mod:`lightbus.delayed`)."""
        return f"{self.prefix}:delayed:{api}.{name}"

    def dead_letters(self, api: str, name: str) -> str:
        return f"{self.prefix}:dead:{api}.{name}"

    def redriven(self, api: str, name: str) -> str:
        return f"{self.prefix}:redriven:{api}.{name}"

    def dead_letter_pattern(self) -> str:
        return f"{self.prefix}:dead:*"

    def handback(self, group: str) -> str:
        """The stream telling a listener group's live consumers that entries were handed back."""
        return f"{self.prefix}:handback:{group}"

    def rpc_queue(self, api: str) -> str:
        return f"{self.prefix}:rpc:{api}"

    def reply(self, process: str, nonce: str) -> str:
        return f"{self.prefix}:reply:{process}:{nonce}"

    def schema(self, api: str) -> str:
        return f"{self.prefix}:schema:{api}"

    def schema_pattern(self) -> str:
        return f"{self.prefix}:schema:*"

    def api_from_schema_key(self, key: str) -> str:
        return key[len(self.prefix) + len(":schema:") :]

    def schedule_lock(self, name: str) -> str:
        return f"{self.prefix}:schedule:{name}"

    def schedule_last(self, name: str) -> str:
        return f"{self.prefix}:schedule-last:{name}"

    @staticmethod
    def consumer_group(service: str, listener: str) -> str:
        return f"{service}.{listener}"
