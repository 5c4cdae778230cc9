"""regtune control plane: settings, study definitions, database, claims, REST API and CLI."""
