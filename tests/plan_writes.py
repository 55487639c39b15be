"""The guard behind the suite-wide check that plans are written through `plans_changing`."""

import re
from contextlib import contextmanager

from django.db import connections

from installments.read_model import in_plan_change

# An INSERT, UPDATE or DELETE of a plan or installment row (not of the tables named after
# them: installments_planevent, installments_plan_x, ...).
PLAN_WRITE = re.compile(
    r'^\s*(?:INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+"?installments_(?:plan|installment)"?[\s(]',
    re.IGNORECASE,
)


class PlanWrittenOutsidePlansChanging(AssertionError):
    pass


def _guard(execute, sql, params, many, context):
    if PLAN_WRITE.match(sql) and not in_plan_change():
        raise PlanWrittenOutsidePlansChanging(
            "A plan or installment was written outside installments.read_model."
            f"plans_changing(), so the investors' read model was not refreshed: {sql[:120]}"
        )
    return execute(sql, params, many, context)


@contextmanager
def plan_writes_guarded():
    """Raise on a plan or installment write outside `plans_changing()`, on every
    connection (threads in the concurrency tests open their own)."""
    with connections["default"].execute_wrapper(_guard):
        yield
