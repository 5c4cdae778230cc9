"""Every line that touches the database."""
