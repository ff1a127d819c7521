"""The parts of a mail merge that need no Airflow: rows, per-row templates, the journal, pacing, outcomes.

:class:`~airflow_provider_smtpconn.operators.mail_merge.MailMergeOperator` wires them together; each module here
has one job and is tested without Airflow.
"""

from __future__ import annotations
