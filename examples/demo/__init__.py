"""The README's demo: two services on an embedded Redis, with the live trace feed.

Run it from the project's root with ``python -m examples.demo``.
"""
