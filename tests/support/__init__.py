"""Helpers shared by the test modules: the scriptable SMTP server, the OAuth2 token endpoint, running DAGs, the
reliability log."""
