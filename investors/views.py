"""The investor's own pages: "My plans", asking for help, preferences. Thin: the selectors
read, `structure.help` and `reminders.services.preferences` write."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from backoffice.lib.dates import business_today
from backoffice.lib.errors import DomainError
from clients.selectors import investor_of, structure_root_of
from installments.models import Plan
from reminders.selectors import reminders_to
from reminders.services.preferences import investor_preferences_set
from structure.help import help_request_ask

from .forms import HelpRequestForm, InvitationAcceptForm, PreferencesForm
from .selectors import my_plans, opted_out_channels, payment_instructions
from .services import invitation_accept, invitation_for


def _me(request):
    investor = investor_of(request.user)
    if investor is None:
        raise Http404  # staff without an investor record have no plans of their own
    return investor


def _context(request, investor, today, **extra) -> dict:
    return {
        "investor": investor,
        "plans": my_plans(investor, today=today),
        "how_to_pay": payment_instructions(investor.language),
        "reminders": reminders_to(investor),
        "today": today,
        "is_participant": structure_root_of(request.user) is not None,
        "help_form": HelpRequestForm(),
        "preferences": PreferencesForm(
            initial={
                "language": investor.language,
                "opted_out_channels": opted_out_channels(investor),
                "time_zone": investor.time_zone,
            }
        ),
        "CURRENCY": settings.CURRENCY,
        **extra,
    }


@login_required
def my_plans_page(request):
    investor = _me(request)
    return render(request, "investors/my_plans.html", _context(request, investor, business_today()))


@login_required
@require_POST
def ask_for_help(request, plan_pk: int):
    investor = _me(request)
    plan = Plan.objects.filter(pk=plan_pk, investor=investor).first()
    if plan is None:
        raise Http404
    form = HelpRequestForm(request.POST)
    today = business_today()
    if form.is_valid():
        try:
            help_request_ask(investor=investor, plan=plan, today=today, **form.cleaned_data)
        except DomainError as error:
            form.add_error(error.field if error.field in form.fields else None, error.message)
        else:
            messages.success(request, _("Your participant has your request and will contact you."))
            return redirect(f"/me/#plan-{plan.pk}")
    context = _context(request, investor, today, help_form=form, help_plan=plan.pk)
    return render(request, "investors/my_plans.html", context, status=400)


@login_required
@require_POST
def preferences(request):
    investor = _me(request)
    form = PreferencesForm(request.POST)
    if form.is_valid():
        try:
            investor_preferences_set(investor=investor, **form.cleaned_data)
        except DomainError as error:
            form.add_error(error.field if error.field in form.fields else None, error.message)
        else:
            messages.success(request, _("Your preferences are saved."))
            return redirect("/me/#preferences")
    context = _context(request, investor, business_today(), preferences=form)
    return render(request, "investors/my_plans.html", context, status=400)


def invitation(request, token: str):
    """The link of an invitation: choose a username and password, once, while it is valid."""
    found = invitation_for(token)
    if found is None:
        return render(request, "investors/invitation.html", {"expired": True}, status=404)
    form = InvitationAcceptForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            user = invitation_accept(token=token, **form.cleaned_data)
        except DomainError as error:
            form.add_error(error.field if error.field in form.fields else None, error.message)
        else:
            # Django's login, after the password the user just chose: axes counts sign-in
            # failures, and this is not one.
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            return redirect("my-plans")
    status = 400 if request.method == "POST" else 200
    context = {"form": form, "investor": found.investor}
    return render(request, "investors/invitation.html", context, status=status)
