"""The ``regtune`` command.

The composition root: the only code that imports both ``service`` and ``worker``.
"""
