"""Shell completion for ``lightbus``: bash, zsh and fish.

``lightbus completion SHELL`` prints a script (:mod:`.scripts`) that, on each TAB, runs
``lightbus __complete`` with the words typed so far; that prints one candidate per line
(``value<TAB>description``). The candidates (:mod:`.candidates`) come from the
commands' own argparse definitions and, for API, RPC and event names and parameters,
from the bus module and the live registry (:mod:`.names`). All of it is imported only
when completing: ``lightbus --help`` and ``import lightbus`` do not load it.
"""
