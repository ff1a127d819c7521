"""``python -m airflow_provider_smtpconn.cli``: the ``smtpconn`` command."""

from __future__ import annotations

import sys

from airflow_provider_smtpconn.cli import main

sys.exit(main())
