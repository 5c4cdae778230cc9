"""Every line that touches the database.

Engines and the transaction helper, tables and migrations, Optuna's storage (and the one package
that touches its internals), claims, the sweep, the worker registry, studies, datasets and keys.
"""
