"""The participant's pages: the Structure, its CSV export, and the investor page with the
contact log. Thin: `StructureFilter` and the selectors read, `contact_log_record` writes."""

from __future__ import annotations

import csv
import datetime as dt
from dataclasses import dataclass

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Prefetch, prefetch_related_objects
from django.http import Http404, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from backoffice.lib.dates import business_today
from backoffice.lib.errors import DomainError
from clients.models import Investor
from clients.selectors import investor_of, request_structure_root, structure_scope
from installments.models import Plan
from installments.read_model import investors_with_overdue, with_overdue_amount
from reminders.selectors import reminders_to

from .contact import ContactLinks, links_for_row
from .filters import ORDERING_LABELS, StructureFilter
from .forms import ContactLogForm
from .help import help_request_answer
from .listing import StructureListing
from .models import HelpRequest, PromiseState
from .selectors import (
    RowStatus,
    investor_contact_log,
    investor_help_requests,
    investor_plans,
    structure_investors,
    structure_summary,
)
from .services import contact_log_record

PAGE_SIZES = (10, 25, 50, 100)
FILTER_NAMES = (
    "overdue",
    "asked_for_help",
    "days_left_lte",
    "bucket",
    "plan_status",
    "level_lte",
    "segment",
    "search",
)
DEFAULT_PAGE_SIZE = 25


@dataclass(frozen=True)
class Row:
    investor: Investor  # a row of structure_investors, with its annotations
    links: ContactLinks


def _page_size(request) -> int:
    try:
        size = int(request.GET.get("page_size", DEFAULT_PAGE_SIZE))
    except ValueError:
        return DEFAULT_PAGE_SIZE
    return size if size in PAGE_SIZES else DEFAULT_PAGE_SIZE


def _structure_filter(request, today) -> StructureFilter:
    return StructureFilter(
        request.GET,
        queryset=structure_scope(request.user, request=request),
        request=request,
        today=today,
    )


def _participant_query(request) -> str:
    """`?participant=<id>` carried from page to page when staff read someone's structure."""
    participant = request.GET.get("participant", "")
    return "?" + urlencode({"participant": participant}) if participant else ""


def _not_a_participant(request):
    """An investor who is not a participant has no Structure: their own plans instead."""
    if request.user.is_staff or request_structure_root(request) is not None:
        return None
    if investor_of(request.user) is not None:
        return redirect("my-plans")
    return None


# The filters inside "More filters and order", folded away unless one is set or wrong.
MORE_FILTERS = ("asked_for_help", "days_left_lte", "bucket", "plan_status", "level_lte", "segment")


def _more_open(request, form) -> bool:
    ordering = request.GET.get("ordering")
    return (
        any(request.GET.get(name) or form[name].errors for name in MORE_FILTERS)
        or bool(ordering and ordering != "urgency")
        or bool(form["ordering"].errors)
    )


@login_required
def structure(request):
    if elsewhere := _not_a_participant(request):
        return elsewhere
    today = business_today()
    filterset = _structure_filter(request, today)
    valid = filterset.is_valid()
    root = filterset.root if valid else None
    choose_participant = (
        not valid
        and request.user.is_staff
        and not request.GET.get("participant")
        and list(filterset.errors) == ["participant"]
    )
    page = summary = None
    rows: list[Row] = []
    if root is not None:
        summary = structure_summary(root=root, today=today)
        page = Paginator(filterset.listing(), _page_size(request)).get_page(request.GET.get("page"))
        prefetch_related_objects(
            list(page.object_list),
            Prefetch("plans", queryset=Plan.objects.select_related("package").order_by("-id")),
        )
        rows = [
            Row(
                investor=row,
                links=links_for_row(row, participant_name=root.name, currency=settings.CURRENCY),
            )
            for row in page.object_list
        ]
    return render(
        request,
        "structure/structure.html",
        {
            "filter": filterset,
            "form": filterset.form,
            "valid": valid,
            "choose_participant": choose_participant,
            "root": root,
            "summary": summary,
            "page": page,
            "rows": rows,
            "today": today,
            "orderings": ORDERING_LABELS.items(),
            "page_sizes": PAGE_SIZES,
            "filtered": any(request.GET.get(name) for name in FILTER_NAMES),
            "more_open": _more_open(request, filterset.form),
            "participant_query": _participant_query(request),
            "RowStatus": RowStatus,
            "PromiseState": PromiseState,
        },
        status=200 if valid or choose_participant else 400,
    )


class _Echo:
    def write(self, value):
        return value


CSV_COLUMNS = [
    "id",
    "name",
    "level",
    "phone",
    "email",
    "messenger",
    "overdue",
    "overdue_amount",
    "oldest_overdue_due_date",
    "grace_deadline",
    "days_left",
    "status",
    "last_contact_outcome",
    "last_contact_at",
    "promised_on",
    "promised_amount",
    "promise_state",
    "asked_for_help",
    "on_hold_until",
]


def _iso(value) -> str:
    """A day, or a moment in business time with its offset (as the pages show it)."""
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        value = value.astimezone(settings.BUSINESS_TIME_ZONE)
    return value.isoformat()


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _text(value: str) -> str:
    # A cell starting with = + - @ (or a tab or carriage return before one) is a formula to a
    # spreadsheet: every free-text cell a client's data fills is kept inert (OWASP's advice).
    return "'" + value if value[:1] in FORMULA_STARTS else value


def _csv_row(row) -> list:
    return [
        row.pk,
        _text(row.name),
        row.level,
        _text(row.phone),
        _text(row.email),
        _text(row.messenger),
        "true" if row.overdue else "false",
        f"{row.overdue_amount:.2f}",
        _iso(row.oldest_overdue_due_date),
        _iso(row.grace_deadline),
        "" if row.days_left is None else row.days_left,
        row.status,
        row.contact_outcome or "",
        _iso(row.contact_at),
        _iso(row.contact_promised_on),
        "" if row.contact_promised_amount is None else f"{row.contact_promised_amount:.2f}",
        row.promise_state or "",
        "true" if row.help_requested else "false",
        _iso(row.on_hold_until),
    ]


@login_required
def structure_export(request):
    """Exactly the rows of the Structure page for the same query string, every page, in the
    same order, streamed (a 100,000-row structure is never held in memory)."""
    today = business_today()
    filterset = _structure_filter(request, today)
    if not filterset.is_valid():
        errors = "\n".join(
            f"{field}: {' '.join(messages_)}" for field, messages_ in filterset.errors.items()
        )
        return HttpResponse(errors, status=400, content_type="text/plain; charset=utf-8")
    writer = csv.writer(_Echo())

    # The pages' path: the rows' SQL compiled once per process (StructureListing).
    listing = filterset.listing()
    rows = listing.iterator(chunk_size=2000) if isinstance(listing, StructureListing) else []

    def lines():
        yield writer.writerow(CSV_COLUMNS)
        for row in rows:
            yield writer.writerow(_csv_row(row))

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="structure-{today.isoformat()}.csv"'
    return response


def _investor_context(request, pk: int, today) -> dict:
    """The investor page's data, or 404 when the investor is outside what the user may read.

    Never the participant's own page: their participant tools aimed at themselves, and the
    notes their upline keeps about them, are not theirs to see (their plans are in My plans).
    """
    visible = structure_scope(request.user, request=request)
    investor = visible.filter(pk=pk).first()
    if investor is None:
        raise Http404
    root = None
    chosen = request.GET.get("participant", "")
    if request.user.is_staff and chosen.isdigit():
        root = Investor.objects.participants().filter(pk=int(chosen)).first()
    root = root or request_structure_root(request)
    row = None
    if root is not None:
        row = structure_investors(Investor.objects.all(), root=root, today=today).filter(pk=pk)
        row = row.first()
    if row is None:  # staff without a structure chosen, or a participant's own page
        row = with_overdue_amount(
            investors_with_overdue(Investor.objects.filter(pk=pk), today=today), today=today
        ).first()
        row.level = None
    participant_name = root.name if root else request.user.get_full_name() or ""
    return {
        "investor": row,
        "links": links_for_row(row, participant_name=participant_name, currency=settings.CURRENCY),
        "plans": investor_plans(investor, today=today),
        "contact_log": investor_contact_log(investor, today=today),
        "help_requests": investor_help_requests(investor),
        "reminders": reminders_to(investor),
        "today": today,
        "participant_query": _participant_query(request),
        "PromiseState": PromiseState,
    }


@login_required
def investor_detail(request, pk: int):
    today = business_today()
    context = _investor_context(request, pk, today)
    context["form"] = ContactLogForm(initial={"promised_on": today})
    return render(request, "structure/investor.html", context)


@login_required
@require_POST
def contact_log_add(request, pk: int):
    today = business_today()
    context = _investor_context(request, pk, today)
    form = ContactLogForm(request.POST)
    if form.is_valid():
        try:
            contact_log_record(
                investor=context["investor"],
                author=request.user,
                today=today,
                **form.cleaned_data,
            )
        except DomainError as error:
            form.add_error(error.field if error.field in form.fields else None, error.message)
        else:
            messages.success(request, _("The contact is logged."))
            url = reverse("structure-investor", args=[pk]) + context["participant_query"]
            return redirect(url)
    context["form"] = form
    # The language switch on this page returns to the investor page, not to this POST-only URL.
    context["language_next"] = (
        reverse("structure-investor", args=[pk]) + context["participant_query"]
    )
    return render(request, "structure/investor.html", context, status=400)


@login_required
@require_POST
def help_request_answer_view(request, pk: int, request_pk: int):
    """The participant (or staff) marks a client's help request answered."""
    context = _investor_context(request, pk, business_today())
    help_request = HelpRequest.objects.filter(pk=request_pk, investor_id=pk).first()
    if help_request is None:
        raise Http404
    try:
        help_request_answer(request=help_request, by=request.user)
    except DomainError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, _("The help request is marked answered."))
    return redirect(reverse("structure-investor", args=[pk]) + context["participant_query"])
