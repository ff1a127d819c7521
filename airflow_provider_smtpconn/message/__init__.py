"""A request to its wire form: addresses, headers, bodies, attachments, one writer. Imports no Airflow."""
