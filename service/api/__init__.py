"""The REST API: FastAPI app, routes, and the one place domain errors become HTTP."""
