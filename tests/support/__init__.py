"""Helpers shared by the test modules: the scriptable SMTP server, running DAGs, the reliability log."""
