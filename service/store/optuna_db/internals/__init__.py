"""The one package that touches Optuna's private API; tests/service/test_optuna_contract.py
checks every name, signature and column used here against the installed Optuna.

- ``handles``: ``om`` (Optuna's SQLAlchemy models, for reads and counts in SQL) and what a
  ``Study`` or ``Trial`` keeps privately (its storage, its row ids, the database under them).
- ``artifacts``: Optuna's artifact store protocol and the attribute prefix of its uploads.
- ``expressions``: SQL on Optuna's trial rows (start and completion in UTC, the open trials).
- ``inserts``: finished trials, and a running trial's params and attributes, written as
  Optuna's rows inside the caller's transaction.
- ``heartbeats``: a trial's heartbeat row, written in the caller's transaction, and the stale ones.
- ``pareto``, ``pruner``: Optuna's Pareto front, and Hyperband keyed by a stored key.
- ``one_statement``: ``OneStatementTrialWrites``, reports and parameters in one statement each.
- ``running_writes``: ``RunningTrialWrites``, a running trial of this process kept in memory.
- ``worker_cache``: ``WorkerHeartbeats``, Optuna's cache for a worker, without its heartbeat.
- ``versions``: whether Optuna's tables are at the schema the installed Optuna writes.
- ``batched``: several reports, attributes or parameters of a live trial in one transaction.
- ``trial_lines``: the line Optuna's ``optimize`` logs at a trial's end, for the trials regtune
  ends without it.
"""
