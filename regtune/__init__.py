"""regtune: hyperparameter tuning for regularized models, as a service."""
