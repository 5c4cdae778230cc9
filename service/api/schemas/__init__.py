"""Response bodies of the REST API by resource (the request body is
``regtune.service.spec.StudySpec``).

pydantic only, no FastAPI: the Python client (``regtune.service.client``) parses answers into these
same models, so a field added here reaches the client without a second copy.
"""
