"""The parts of a mail merge that need no Airflow: rows, per-row templates, the journal, pacing, outcomes, the
recorder (journal and outcomes behind one lock) and the sender (sessions side by side over the prepared rows).

:class:`~airflow_provider_smtpconn.operators.mail_merge.MailMergeOperator` wires them together; each module here
has one job and is tested without Airflow.
"""

from __future__ import annotations
