"""merge/prefetch.py: rows are prepared ahead in order, an error is raised where it happened, and stopping early
stops the preparing thread. No Airflow run."""

from __future__ import annotations

import pytest


def test_prefetch_keeps_order_raises_where_it_happened_and_stops_early():
    import threading

    from airflow_provider_smtpconn.merge.prefetch import Prefetch

    def items():
        yield from range(5)
        raise ValueError("row 5 broke")

    got = []
    with pytest.raises(ValueError, match="row 5 broke"), Prefetch(items(), depth=2) as ready:
        got.extend(ready)
    assert got == [0, 1, 2, 3, 4]

    produced = []

    def endless():
        for i in range(10_000):
            produced.append(i)
            yield i

    with Prefetch(endless(), depth=3) as ready:
        for item in ready:
            if item == 1:
                break
    assert len(produced) < 10  # stopped a few rows ahead, not at the end
    assert not [t for t in threading.enumerate() if t.name == "mail-merge-prepare"]
