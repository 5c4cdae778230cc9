"""Benchmarks: each module is a script that prints a markdown table and writes JSON to results/."""
