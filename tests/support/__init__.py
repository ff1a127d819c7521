"""Helpers shared by the test modules: the scriptable SMTP server, the OAuth2 token endpoint, composing and reading
back messages, a session against the test server, one send through the hook, running DAGs, the reliability log."""
