"""``lightbus call`` and ``lightbus fire``: send an RPC or an event from a terminal.

- :mod:`.payload` turns ``api.name key=value ...`` and ``--json`` into the call's target
  and keyword arguments;
- :mod:`.runtime` is the one module here that reaches into the runtime beyond its
  top-level names (the bus module, consumer groups, heartbeats): when the runtime's
  public surface lands (issue 13), only it changes;
- :mod:`.outcome` follows the trace stream for what became of a sent message;
- :mod:`.report` prints results, errors and outcomes for a person (rich) or a program
  (JSON);
- :mod:`.command` holds what both commands share; :mod:`.call` and :mod:`.fire` are
  the commands.
"""
