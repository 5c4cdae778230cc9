"""The typed httpx client of the regtune API and the live watch view built on it."""
