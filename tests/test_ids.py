"""Ids come from a per-thread pool of random bytes: still unique across threads and forks."""

from __future__ import annotations

import os
import threading

from lightbus import ids


def test_ids_from_many_threads_at_once_are_all_different():
    made: list[list[str]] = [[] for _ in range(8)]

    def make(out: list[str]) -> None:
        for _ in range(5000):
            out.extend((ids.message_id(), ids.trace_id(), ids.span_id()))

    threads = [threading.Thread(target=make, args=(out,)) for out in made]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    every = [i for out in made for i in out]
    assert len(every) == 8 * 5000 * 3
    assert len(set(every)) == len(every)


def test_a_forked_child_does_not_repeat_its_parents_ids():
    ids.span_id()  # the parent's pool is filled: a child must not reuse what is left of it
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child
        os.write(write, " ".join(ids.span_id() for _ in range(50)).encode())
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    with os.fdopen(read) as pipe:
        child = set(pipe.read().split())
    parent = {ids.span_id() for _ in range(50)}
    assert len(child) == 50 and not child & parent


def test_a_message_id_is_a_uuid7_that_tells_its_time():
    before = ids.timestamp_ms(ids.message_id())
    value = ids.message_id()
    assert len(value) == 32 and value[12] == "7" and value[16] in "89ab"
    assert ids.timestamp_ms(value) >= before
