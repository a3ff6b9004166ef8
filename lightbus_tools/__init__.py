"""Lightbus developer tools: monitor, inspect, trace, replay, dumpschema, dev loop, shell.

The tools use only the runtime's public surface: ``lightbus``'s top-level names and
the documented modules for the trace stream (:mod:`lightbus.trace`, the reader
:mod:`lightbus.tracereader` and the causal tree :mod:`lightbus.tracetree`), the registry
(:mod:`lightbus.registry`), dead letters (:mod:`lightbus.deadletter`) and the schema.
"""
