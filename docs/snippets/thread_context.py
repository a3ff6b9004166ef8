"""Keeping the trace in a thread you start yourself (docs/how-to/join-logs-to-traces.md);
run by tests/test_trace_docs.py."""

import lightbus

seen = []


def work():
    trace = lightbus.current_trace()
    seen.append(trace.trace_id if trace else None)


def start_work():
    # --8<-- [start:thread]
    import contextvars
    import threading

    ctx = contextvars.copy_context()
    threading.Thread(target=ctx.run, args=(work,)).start()
    # --8<-- [end:thread]


if __name__ == "__main__":
    import threading

    with lightbus.start_trace("4bf92f3577b34da6a3ce929d0e0e4736"):
        start_work()
        threading.Thread(target=work).start()  # without the copy: no trace
    for thread in threading.enumerate():
        if thread is not threading.current_thread():
            thread.join(5)
    print(sorted(seen, key=str))
