"""Hooks of the smtpconn provider."""
