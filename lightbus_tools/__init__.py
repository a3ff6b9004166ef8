"""Lightbus developer tools: inspect, trace, call and fire, replay and dead letters,
dumpschema, schema check, dev loop, shell, shell completion, monitor.

The tools use only the runtime's public surface: ``lightbus``'s top-level names and
the documented modules for the trace stream (:mod:`lightbus.trace`, the reader
:mod:`lightbus.tracereader` and the causal tree :mod:`lightbus.tracetree`), the registry
(:mod:`lightbus.registry`), dead letters (:mod:`lightbus.deadletter`) and the schema.
``send`` (call, fire) and ``completion`` keep every other access to the runtime in one
adapter module, :mod:`lightbus_tools.send.runtime`, until the public surface lands.
"""
