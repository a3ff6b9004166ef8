"""``lightbus replay`` and ``lightbus deadletters``: re-sending recorded messages.

Both are built on :mod:`lightbus.replay` (one message) and :mod:`lightbus.redrive`
(ranges, dead letters); :mod:`lightbus_tools.replaying.session` holds what they share:
the bus, the plan shown to a person, the confirmation, paced sending with a stop on
Ctrl-C.
"""
