"""The benchmark suite: each workload of DESIGN.md section 8, against a raw redis-py floor.

Run ``python -m benchmarks`` (or ``nox -s bench``); ``--short`` for a quick check with
small counts, ``--json FILE`` to keep the figures for a later comparison. Every workload
runs against this bus and against :mod:`benchmarks.floor` (a minimal hand-written bus on
redis-py: no validation, no tracing) in the same run, alternating round by round, so
the ratios are comparable even on a noisy shared machine. See
``docs/explanation/performance.md``.
"""
