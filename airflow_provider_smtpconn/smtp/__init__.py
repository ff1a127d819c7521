"""One SMTP session: connect, TLS, AUTH, the transaction, the DATA stream, the retry rules. Imports no Airflow."""
