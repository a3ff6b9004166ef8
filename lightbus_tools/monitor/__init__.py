"""``lightbus monitor``: a Textual app that shows the running bus, live and from history.

The package is split by role (each module says more):

- the model, plain Python with no textual import, unit-tested alone: ``model`` (what the
  screens read), ``buffer`` (the live feed and pause), ``filters`` (the ``/`` language),
  ``stats`` (per api.name figures), ``messages`` (one message), ``trees`` (one trace),
  ``health`` (workers, backlog, dead letters), ``cells`` (how values read);
- ``source``: the one module that talks to the runtime (reads Redis, names the steps);
- ``feeder``: the reading loop the app's one reader worker runs;
- the app: ``app`` (small: wiring, global keys), ``screens/`` (one module per screen),
  ``widgets/`` (the record list, the status bar), ``monitor.tcss`` (layout);
- ``command``: the ``lightbus monitor`` command, which imports textual only when it runs.
"""
