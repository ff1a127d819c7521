"""Operators of the smtpconn provider."""
