"""merge/outcomes.py: the failure limit as a count or a fraction, and the summary that lists the problem rows when
the full list would be too long. No Airflow run."""

from __future__ import annotations

import io

import pytest

from airflow_provider_smtpconn.exceptions import InvalidMessageError
from airflow_provider_smtpconn.merge.outcomes import Outcomes, failure_limit


def test_failure_limit_counts_and_fractions():
    assert failure_limit(None, 10) is None
    assert failure_limit(3, 10) == 3
    assert failure_limit(0.25, 10) == 2
    for bad in (-1, 1.5, True, "3"):
        with pytest.raises(InvalidMessageError, match="max_failures"):
            failure_limit(bad, 10)


def test_outcomes_summary_lists_problem_rows_when_there_are_too_many():
    with Outcomes() as outcomes:
        for i in range(5):
            outcomes.add(str(i), "sent" if i != 3 else "refused", f"<{i}@x>", 1)
        full, short = outcomes.summary(10), outcomes.summary(2)
        file = io.StringIO()
        outcomes.write_csv(file)
    assert (full["sent"], full["refused"], full["total"], full["outcomes_complete"]) == (4, 1, 5, True)
    assert len(full["outcomes"]) == 5
    assert short["outcomes"] == [["3", "refused", "<3@x>", 1, ""]] and not short["outcomes_complete"]
    assert file.getvalue().splitlines()[:2] == ["row_key,status,message_id,try_number,detail", "0,sent,<0@x>,1,"]
