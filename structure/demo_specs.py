"""The demo portfolio's shapes: investors, plans with their payments, and the whole."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

from installments import rules


@dataclass(frozen=True)
class ParticipantSpec:
    username: str
    name: str
    country: str
    language: str
    share: float  # of the investors, in this participant's structure


@dataclass(frozen=True)
class StageSpec:
    name: str
    share_price: Decimal
    starts_on: dt.date


@dataclass(frozen=True)
class PackageSpec:
    name: str
    price: Decimal
    shares: int
    installment_count: int
    final_payment_fraction: str = rules.format_fraction(rules.DEFAULT_FINAL_PAYMENT_FRACTION)


@dataclass(frozen=True)
class PromotionSpec:
    name: str
    kind: str
    percentage: Decimal
    starts_on: dt.date
    ends_on: dt.date | None = None


@dataclass(frozen=True)
class InvestorSpec:
    key: int
    name: str
    sponsor: int | None
    root: int  # the participant whose structure this is (0 for a participant)
    level: int  # under that participant
    phone: str
    email: str
    messenger: str
    language: str
    username: str = ""


@dataclass(frozen=True)
class PaymentSpec:
    amount: Decimal
    received_on: dt.date


@dataclass
class PlanSpec:
    investor: int
    package: str
    scenario: str
    purchased_on: dt.date
    first_due_date: dt.date
    payments: list[PaymentSpec] = field(default_factory=list)
    hold: tuple[dt.date, str] | None = None
    cancel_scan: dt.date | None = None  # the nightly scan that cancels it
    late_payments: list[PaymentSpec] = field(default_factory=list)  # recorded after the scans
    restore_reason: str = ""
    after_restore: list[PaymentSpec] = field(default_factory=list)


@dataclass
class Portfolio:
    today: dt.date
    stages: tuple[StageSpec, ...]
    promotions: tuple[PromotionSpec, ...]
    investors: list[InvestorSpec]
    plans: list[PlanSpec]

    @property
    def scan_dates(self) -> list[dt.date]:
        return sorted({p.cancel_scan for p in self.plans if p.cancel_scan})
