"""The claim protocol: take a trial slot, finish it, and give back slots of dead workers.

Every state change that can race is one conditional UPDATE whose row count says who won, so the
protocol is the same on SQLite (writers serialized) and PostgreSQL (row locks, READ COMMITTED).
``n_done`` and ``n_running`` live on the study row: a claim is allowed only while
``n_done + n_running < n_trials`` (and neither the deadline nor a stop rule ended the study),
which is what keeps the budget exact with any number of workers.

- ``slot``: what a claimed slot is (``Claim``), the worker id of one left to the sweep, and the
  key that links a λ path's trial to each of its slots.
- ``counts``: the study row's counters in SQL (``monotonic_done``, room for a slot).
- ``taking``: ``claim``, ``claim_slots`` and ``extend`` (a λ path's further slots).
- ``links``: a trial linked to its claim (``link_trial``) and the queries that follow the link.
- ``stopping``: a study's stop rule (``budget.stop``) on its row: its best value, when that
  last improved, and the rule that stopped it, moved by each finish that counts a trial.
- ``finishing``: ``finish``, ``finish_when_told`` and ``settle`` (a study's final status).
- ``recovery``: dead workers' slots given back, a study its trial killed failed, ``n_done``
  recounted.
"""
