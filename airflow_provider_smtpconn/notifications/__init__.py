"""Notifiers of the smtpconn provider."""
