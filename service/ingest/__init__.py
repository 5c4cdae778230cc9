"""Uploaded bytes to a checked table.

File formats, columns and encoding, and the preprocessing statistics the worker applies.
"""
