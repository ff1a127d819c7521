"""``[core] hostname_callable`` for the distributed suite: each component's name (``worker-a``, ``worker-b``, ...)
as its host name, so the task instance records which worker ran each try, as on separate machines.
"""

from __future__ import annotations

import os
import socket


def hostname() -> str:
    """The component's name from ``SMTPCONN_WORKER_NAME``, else this machine's name."""
    return os.environ.get("SMTPCONN_WORKER_NAME") or socket.getfqdn()
