"""RPC over Redis lists: :mod:`~lightbus.rpc.caller` (the caller's side) and
:mod:`~lightbus.rpc.server` (the worker's)."""
