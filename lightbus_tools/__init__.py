"""Lightbus developer tools: inspect, trace, dumpschema, schema check, dev loop, shell.

``lightbus monitor`` and ``lightbus replay`` are planned and not available yet.

The tools use only the runtime's public surface: ``lightbus``'s top-level names and
the documented modules for the trace stream (:mod:`lightbus.trace`, the reader
:mod:`lightbus.tracereader` and the causal tree :mod:`lightbus.tracetree`), the registry
(:mod:`lightbus.registry`), dead letters (:mod:`lightbus.deadletter`) and the schema.
"""
