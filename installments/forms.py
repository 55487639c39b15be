"""Admin forms. Each parses its input and calls one service; none holds a business rule.

A `ServiceForm` turns the service's DomainError into a form error (on the field it names when
the form has that field), so a refused request is shown on the form and has changed nothing.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from fractions import Fraction

from django import forms
from django.conf import settings
from django.contrib.admin.widgets import AdminDateWidget
from django.core.exceptions import ValidationError
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from backoffice.lib.admin import ServiceForm
from backoffice.lib.errors import shown
from clients.models import Investor

from . import overdue, rules, services
from .models import BONUS_KINDS, CreditKind, Package, Payment, Plan, PlanStatus


class PlanServiceForm(ServiceForm):
    """A form that acts on one plan, or on each plan of a changelist selection."""

    def __init__(self, *args, plan: Plan | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.plan = plan

    def perform(self, *, today: dt.date, actor):
        return self.perform_on(self.plan, today=today, actor=actor)

    def perform_on(self, plan: Plan, *, today: dt.date, actor):
        raise NotImplementedError


def _reason_field(help_text) -> forms.CharField:
    return forms.CharField(
        label=_("reason"),
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text=help_text,
    )


# ---------------------------------------------------------------------------- plans


class PackageChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Package) -> str:
        label = _("%(name)s · %(price)s for %(shares)s shares in %(count)s installments") % {
            "name": obj.name,
            "price": obj.price,
            "shares": obj.shares,
            "count": obj.installment_count,
        }
        return label if obj.is_active else _("%(label)s (not on sale)") % {"label": label}


class PlanCreateForm(ServiceForm):
    autocomplete_fields = {"investor": (Plan, "investor")}

    investor = forms.ModelChoiceField(queryset=Investor.objects.all(), label=_("investor"))
    package = PackageChoiceField(queryset=Package.objects.all(), label=_("package"))
    first_due_date = forms.DateField(
        label=_("first due date"),
        widget=AdminDateWidget,
        help_text=_(
            "Installment k is due k−1 months later. A date in the past brings in an existing "
            "plan, overdue from the first moment if it is."
        ),
    )

    def perform(self, *, today, actor) -> Plan:
        return services.plan_create(
            investor=self.cleaned_data["investor"],
            package=self.cleaned_data["package"],
            first_due_date=self.cleaned_data["first_due_date"],
            today=today,
            actor=actor,
        )

    def success_message(self, plan: Plan) -> str:
        first = plan.installments.order_by("number").first()
        return _(
            "Plan #%(plan)s created for %(investor)s: %(count)s installments from "
            "%(first_due_date)s, the first of %(amount)s."
        ) % {
            "plan": plan.pk,
            "investor": plan.investor,
            "count": plan.installments.count(),
            "first_due_date": plan.first_due_date.isoformat(),
            "amount": first.amount if first else "",
        }


# ---------------------------------------------------------------------------- payments


class PaymentRecordForm(PlanServiceForm):
    """Record a payment to a given plan."""

    amount = forms.DecimalField(
        label=_("amount"), max_digits=14, decimal_places=2, widget=forms.TextInput
    )
    received_on = forms.DateField(
        label=_("received on"),
        widget=AdminDateWidget,
        help_text=_("The day the money arrived, not the day it is recorded."),
    )
    reference = forms.CharField(
        label=_("reference"),
        max_length=Payment._meta.get_field("reference").max_length,
        help_text=Payment._meta.get_field("reference").help_text,
    )

    def perform_on(self, plan: Plan, *, today, actor) -> services.PaymentResult:
        return services.payment_record(
            plan=plan,
            amount=self.cleaned_data["amount"],
            received_on=self.cleaned_data["received_on"],
            reference=self.cleaned_data["reference"],
            today=today,
            actor=actor,
        )

    def success_message(self, result: services.PaymentResult) -> str:
        return payment_message(result)

    @staticmethod
    def what_is_owed(plan: Plan, today) -> str:
        """What the plan still owes and what of it is overdue today (the form's description)."""
        plan = Plan.objects.with_overdue(today).get(pk=plan.pk)
        owed = plan.installments.aggregate(owed=overdue.sum_unpaid())["owed"]
        figures = {
            "owed": f"{Decimal(owed).quantize(rules.CENT)} {settings.CURRENCY}",
            "overdue": f"{Decimal(plan.overdue_amount).quantize(rules.CENT)} {settings.CURRENCY}",
        }
        if plan.status == PlanStatus.CANCELLED:
            return (
                _(
                    "Still to pay: %(owed)s. The plan is cancelled: a payment received by its "
                    "grace deadline restores it."
                )
                % figures
            )
        if plan.overdue:
            return _("Still to pay: %(owed)s, of which %(overdue)s is overdue.") % figures
        return _("Still to pay: %(owed)s; nothing is overdue.") % figures


class PaymentCreateForm(PaymentRecordForm):
    """The Payment admin's add form: the same, with the plan chosen on the form."""

    autocomplete_fields = {"plan": (Payment, "plan")}

    plan = forms.ModelChoiceField(
        queryset=Plan.objects.select_related("investor", "package"), label=_("plan")
    )
    field_order = ["plan", "amount", "received_on", "reference"]

    def perform(self, *, today, actor) -> services.PaymentResult:
        return self.perform_on(self.cleaned_data["plan"], today=today, actor=actor)


def payment_message(result: services.PaymentResult) -> str:
    """What a payment did, in one line: posted or replayed, shares, bonuses, restore, completion."""
    payment = result.payment
    facts = {
        "reference": payment.reference,
        "amount": payment.amount,
        "received_on": payment.received_on.isoformat(),
        "plan": payment.plan_id,
    }
    if not result.created:
        return (
            _(
                "Payment %(reference)s was already recorded (%(amount)s received on "
                "%(received_on)s to plan #%(plan)s): nothing was posted again."
            )
            % facts
        )
    credited = sum(
        c.shares for c in result.credits if c.kind in (CreditKind.PROGRESSIVE, CreditKind.FINAL)
    )
    parts = [
        _("Payment %(reference)s posted: %(amount)s to plan #%(plan)s") % facts,
        ngettext("%(count)s share credited", "%(count)s shares credited", credited)
        % {"count": credited},
    ]
    parts += [
        _("bonus: %(shares)s shares (%(kind)s)")
        % {"shares": c.shares, "kind": c.get_kind_display()}
        for c in result.credits
        if c.kind in BONUS_KINDS
    ]
    if result.restored:
        parts.append(_("the cancelled plan is restored: the money was received in time"))
    if payment.plan.status == PlanStatus.COMPLETED:
        parts.append(_("the plan is paid in full"))
    return "; ".join(str(part) for part in parts) + "."


# ---------------------------------------------------------------------------- admin acts


class PlanRestoreForm(PlanServiceForm):
    reason = _reason_field(
        format_lazy(
            _("Kept in the audit trail. The plan gets a fresh {days}-day grace window."),
            days=rules.GRACE_DAYS,
        )
    )

    def perform_on(self, plan: Plan, *, today, actor) -> Plan:
        return services.plan_restore(
            plan=plan, reason=self.cleaned_data["reason"], today=today, actor=actor
        )

    def success_message(self, plan: Plan) -> str:
        return _("Plan #%(plan)s is restored; it cannot be cancelled before %(date)s.") % {
            "plan": plan.pk,
            "date": plan.grace_extended_to.isoformat(),
        }


class PlanHoldForm(PlanServiceForm):
    until = forms.DateField(
        label=_("on hold until"),
        widget=AdminDateWidget,
        help_text=_("No cancellation and no reminders until this date (inclusive)."),
    )
    reason = _reason_field(_("Kept in the audit trail."))

    def perform_on(self, plan: Plan, *, today, actor) -> Plan:
        return services.plan_hold(
            plan=plan,
            until=self.cleaned_data["until"],
            reason=self.cleaned_data["reason"],
            today=today,
            actor=actor,
        )

    def success_message(self, plan: Plan) -> str:
        return _("Plan #%(plan)s is on hold until %(date)s.") % {
            "plan": plan.pk,
            "date": plan.hold_until.isoformat(),
        }


class PlanReleaseHoldForm(PlanServiceForm):
    reason = _reason_field(_("Kept in the audit trail."))

    def perform_on(self, plan: Plan, *, today, actor) -> Plan:
        return services.plan_release_hold(
            plan=plan, reason=self.cleaned_data["reason"], today=today, actor=actor
        )

    def success_message(self, plan: Plan) -> str:
        return _("The hold on plan #%(plan)s is released.") % {"plan": plan.pk}


class PlanAddSharesForm(PlanServiceForm):
    shares = forms.IntegerField(
        label=_("shares to add"),
        min_value=1,
        max_value=rules.MAX_PACKAGE_SHARES,
        help_text=_(
            "Priced at the plan's locked share price; the added price is spread over the "
            "unpaid installments."
        ),
    )

    def perform_on(self, plan: Plan, *, today, actor) -> Plan:
        return services.plan_add_shares(
            plan=plan, shares=self.cleaned_data["shares"], today=today, actor=actor
        )

    def success_message(self, plan: Plan) -> str:
        shares = self.cleaned_data["shares"]
        return _(
            "%(shares)s shares added to plan #%(plan)s at the locked price of %(share_price)s: "
            "the plan now holds %(total)s shares for %(price)s."
        ) % {
            "shares": shares,
            "plan": plan.pk,
            "share_price": plan.share_price,
            "total": plan.shares,
            "price": plan.price,
        }


# ---------------------------------------------------------------------------- packages


class PackageForm(forms.ModelForm):
    """The package form, with the final-payment fraction kept exact.

    The fraction is parsed by the rules (one message for the API and the admin) and handed to
    the model as its canonical "n/d" text.
    """

    final_payment_fraction = forms.CharField(
        label=Package._meta.get_field("final_payment_fraction").verbose_name,
        max_length=32,
        help_text=Package._meta.get_field("final_payment_fraction").help_text,
        widget=forms.TextInput(attrs={"placeholder": "2/3"}),
    )

    class Meta:
        model = Package
        fields = [
            "name",
            "shares",
            "price",
            "installment_count",
            "final_payment_fraction",
            "is_active",
        ]
        # Declared above and excluded here: clean_final_payment_fraction alone decides.
        exclude = ["final_payment_fraction"]  # noqa: DJ006

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        current = self.instance.final_payment_fraction if self.instance.pk else None
        if current is None:
            current = Package._meta.get_field("final_payment_fraction").get_default()
        self.initial.setdefault("final_payment_fraction", str(current))

    def clean_final_payment_fraction(self) -> Fraction:
        try:
            return rules.parse_fraction(self.cleaned_data["final_payment_fraction"])
        except rules.RuleError as error:
            raise ValidationError(shown(error), code="invalid") from None

    def clean(self):
        cleaned = super().clean()
        price, count = cleaned.get("price"), cleaned.get("installment_count")
        if price is not None and count:
            try:
                rules.check_installment_count(price, count)
            except rules.RuleError as error:
                self.add_error("installment_count", shown(error))
        return cleaned

    def save(self, commit: bool = True) -> Package:
        self.instance.final_payment_fraction = rules.format_fraction(
            self.cleaned_data["final_payment_fraction"]
        )
        return super().save(commit=commit)
