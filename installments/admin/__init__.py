"""The admin for stages, packages, plans, payments, promotions, the share ledger and the audit
trail: an interface over the services.

Every change to a plan or a payment goes through a service function with
`actor=request.user`, so the audit trail (PlanEvent) says who did what and why. The admin
never saves a plan or a payment row itself.
"""

from . import catalog, payments, plans, records

__all__ = ["catalog", "payments", "plans", "records"]
