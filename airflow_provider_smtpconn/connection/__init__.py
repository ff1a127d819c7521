"""The ``smtpconn`` connection type: every field declared once, its parsers, the form. Imports no Airflow."""
