"""The admin for investors and participants: an interface over clients.services.

Adding an investor goes through `investor_create` and changing a sponsor through
`investor_move` (both keep the tree's paths right); the change page edits contacts only.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.contrib.auth import get_permission_codename, get_user_model
from django.core.exceptions import PermissionDenied
from django.db.models import Count, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.utils.http import urlencode
from django.utils.translation import gettext_lazy as _

from backoffice.lib.admin import (
    ReadOnlyAdminMixin,
    ServiceForm,
    ServiceViewsMixin,
    admin_link,
    iso_date,
    iso_datetime,
    request_today,
    shown,
)
from clients.models import Investor, Participant
from clients.services import (
    investor_create,
    investor_grant_login,
    investor_move,
    participant_grant_login,
)
from installments.models import Plan

from .models import ContactLogEntry, PromiseState

# What the change page edits; the tree (sponsor, path, depth) and the login have services.
CONTACT_FIELDS = ["name", "phone", "email", "messenger", "language", "time_zone"]


def _formfield(name: str, **kwargs) -> forms.Field:
    return Investor._meta.get_field(name).formfield(**kwargs)


# ---------------------------------------------------------------------------- forms


class InvestorCreateForm(ServiceForm):
    autocomplete_fields = {"sponsor": (Investor, "sponsor")}

    name = _formfield("name")
    sponsor = _formfield("sponsor")
    phone = _formfield("phone")
    email = _formfield("email")
    messenger = _formfield("messenger")
    language = _formfield("language")
    time_zone = _formfield("time_zone")

    def perform(self, *, today, actor) -> Investor:
        return investor_create(**self.cleaned_data)

    def success_message(self, investor: Investor) -> str:
        if investor.sponsor is None:
            return _("%(name)s is added at the top of a new tree.") % {"name": investor.name}
        return _("%(name)s is added under %(sponsor)s, at depth %(depth)s.") % {
            "name": investor.name,
            "sponsor": investor.sponsor.name,
            "depth": investor.depth,
        }


class InvestorMoveForm(ServiceForm):
    autocomplete_fields = {"sponsor": (Investor, "sponsor")}

    sponsor = _formfield(
        "sponsor",
        label=_("new sponsor"),
        help_text=_(
            "Their whole structure moves with them. Leave empty to put them at the top of "
            "a new tree."
        ),
    )

    def __init__(self, *args, investor: Investor, **kwargs):
        super().__init__(*args, **kwargs)
        self.investor = investor

    def perform(self, *, today, actor) -> Investor:
        return investor_move(investor=self.investor, sponsor=self.cleaned_data["sponsor"])

    def success_message(self, investor: Investor) -> str:
        if investor.sponsor is None:
            return _("%(name)s is now at the top of a tree.") % {"name": investor.name}
        return _("%(name)s now sits under %(sponsor)s, at depth %(depth)s.") % {
            "name": investor.name,
            "sponsor": investor.sponsor.name,
            "depth": investor.depth,
        }


class _LoginForm(ServiceForm):
    """A username and password handed to a service that gives the investor a login."""

    username = forms.CharField(label=_("username"), max_length=150)
    password = forms.CharField(
        label=_("password"), strip=False, widget=forms.PasswordInput(render_value=False)
    )

    def __init__(self, *args, investor: Investor, **kwargs):
        super().__init__(*args, **kwargs)
        self.investor = investor

    def grant(self, **login):
        raise NotImplementedError

    def perform(self, *, today, actor):
        return self.grant(
            investor=self.investor,
            username=self.cleaned_data["username"],
            password=self.cleaned_data["password"],
        )


class InvestorLoginForm(_LoginForm):
    """A sign-in to the investor's own plans, without making them a participant."""

    def grant(self, **login):
        return investor_grant_login(**login)

    def success_message(self, user) -> str:
        return _("%(name)s can sign in to their plans as “%(username)s”.") % {
            "name": self.investor.name,
            "username": user.get_username(),
        }


class GrantLoginForm(_LoginForm):
    """A back-office login: the investor becomes a participant."""

    def grant(self, **login):
        return participant_grant_login(**login)

    def success_message(self, user) -> str:
        return _("%(name)s is now a participant and can sign in as “%(username)s”.") % {
            "name": self.investor.name,
            "username": user.get_username(),
        }


# ---------------------------------------------------------------------------- investors


class ParticipantFilter(admin.SimpleListFilter):
    title = _("participant")
    parameter_name = "participant"

    def lookups(self, request, model_admin):
        return [("yes", _("Yes")), ("no", _("No"))]

    def queryset(self, request, queryset):
        participants = Investor.objects.participants().values("pk")
        if self.value() == "yes":
            return queryset.filter(pk__in=participants)
        if self.value() == "no":
            return queryset.exclude(pk__in=participants)
        return None


def _count_of(queryset, fk: str) -> Coalesce:
    """A per-row count as a subquery: two joined COUNTs in one query would multiply."""
    counted = (
        queryset.filter(**{fk: OuterRef("pk")})
        .order_by()
        .values(fk)
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Coalesce(Subquery(counted), 0)


class InvestorPlanInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = Plan
    verbose_name_plural = _("plans")
    extra = 0
    can_delete = False
    fields = [
        "plan_link",
        "package",
        "status",
        "purchased_on_iso",
        "price",
        "overdue_amount",
        "days_left",
    ]
    readonly_fields = fields
    purchased_on_iso = iso_date("purchased_on", Plan._meta.get_field("purchased_on").verbose_name)

    def get_queryset(self, request):
        return super().get_queryset(request).listed(request_today(request))

    @admin.display(description=_("plan"))
    def plan_link(self, plan):
        return admin_link(plan, f"#{plan.pk}")

    @admin.display(description=_("overdue amount"))
    def overdue_amount(self, plan):
        return f"{plan.overdue_amount:.2f}"

    @admin.display(description=_("days left"))
    def days_left(self, plan):
        return shown(self, plan.days_left)


@admin.register(Investor)
class InvestorAdmin(ServiceViewsMixin, admin.ModelAdmin):
    list_display = [
        "name",
        "sponsor",
        "level",
        "phone",
        "email",
        "language",
        "is_participant",
        "plan_count",
    ]
    list_select_related = ["sponsor"]
    list_filter = [ParticipantFilter, "language"]
    search_fields = ["name", "phone", "email"]
    fieldsets = [
        (None, {"fields": CONTACT_FIELDS}),
        (
            _("Place in the tree"),
            {"fields": ["sponsor_link", "level", "direct_clients", "structure_size"]},
        ),
        (_("Back-office login"), {"fields": ["login", "created_at_iso"]}),
    ]
    readonly_fields = [
        "sponsor_link",
        "level",
        "direct_clients",
        "structure_size",
        "login",
        "created_at_iso",
    ]
    inlines = [InvestorPlanInline]
    created_at_iso = iso_datetime("created_at", _("added at"))

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(plan_count=_count_of(Plan.objects.all(), "investor"))
        )

    # -- columns and read-only fields

    @admin.display(description=_("level"), ordering="depth")
    def level(self, investor):
        """The depth in the whole tree: 1 is the top of a tree."""
        return investor.depth

    @admin.display(description=_("participant"), boolean=True, ordering="user")
    def is_participant(self, investor):
        return investor.is_participant

    @admin.display(description=_("plans"), ordering="plan_count")
    def plan_count(self, investor):
        return investor.plan_count

    @admin.display(description=_("sponsor"))
    def sponsor_link(self, investor):
        if investor.sponsor_id is None:
            return _("none: the top of a tree")
        return admin_link(investor.sponsor)

    @admin.display(description=_("direct clients"))
    def direct_clients(self, investor):
        return investor.clients.count()

    @admin.display(description=_("structure size (all levels)"))
    def structure_size(self, investor):
        return Investor.objects.in_structure_of(investor).count()

    @admin.display(description=_("login"))
    def login(self, investor):
        return shown(self, investor.user.get_username() if investor.user_id else None)

    # -- add and change

    def add_view(self, request, form_url="", extra_context=None):
        return self.service_add_view(
            request,
            form_class=InvestorCreateForm,
            title=_("Add investor"),
            submit_label=_("Add the investor"),
            initial={"sponsor": request.GET.get("sponsor")},
        )

    def save_model(self, request, obj, form, change):
        # The contact fields only: a full-row save would write back a path and depth that an
        # investor_move of an ancestor may have rewritten since this request loaded the row.
        changed = [name for name in form.changed_data if name in CONTACT_FIELDS]
        if changed:
            obj.save(update_fields=changed)

    # -- the services, one page each

    def get_urls(self):
        views = [
            ("move", "move", self.move_view),
            ("grant-login", "grant_login", self.grant_login_view),
            ("investor-login", "investor_login", self.investor_login_view),
        ]
        return self.service_urls(views) + super().get_urls()

    def can_grant_login(self, request, investor) -> bool:
        # A login is a new user account: it takes the right to add users too.
        user_opts = get_user_model()._meta
        add_user = f"{user_opts.app_label}.{get_permission_codename('add', user_opts)}"
        return self.has_change_permission(request, investor) and request.user.has_perm(add_user)

    def service_tools(self, request, investor):
        plans = self.admin_site._registry.get(Plan)
        tools = []
        if plans is not None and plans.has_view_or_change_permission(request):
            query = urlencode({"investor__id__exact": investor.pk})
            tools.append({"label": _("Plans"), "url": f"{plans.admin_url('changelist')}?{query}"})
        if plans is not None and plans.has_add_permission(request):
            query = urlencode({"investor": investor.pk})
            tools.append({"label": _("Add plan"), "url": f"{plans.admin_url('add')}?{query}"})
        if self.has_change_permission(request, investor):
            tools.append({"label": _("Move"), "url": self.admin_url("move", investor.pk)})
        if not investor.can_sign_in and self.can_grant_login(request, investor):
            tools.append(
                {"label": _("Grant login"), "url": self.admin_url("grant_login", investor.pk)}
            )
            tools.append(
                {
                    "label": _("Investor login"),
                    "url": self.admin_url("investor_login", investor.pk),
                }
            )
        return tools

    def move_view(self, request, object_id):
        investor = self.object_for_change(request, object_id)
        return self.service_tool_view(
            request,
            investor,
            form_class=InvestorMoveForm,
            form_kwargs={"investor": investor},
            title=_("Move %(name)s to another sponsor") % {"name": investor.name},
            submit_label=_("Move"),
            initial={"sponsor": investor.sponsor_id},
        )

    def grant_login_view(self, request, object_id):
        return self._login_view(
            request,
            object_id,
            form_class=GrantLoginForm,
            title=_("Grant %(name)s a back-office login"),
            submit_label=_("Grant the login"),
            description=_(
                "With a login the investor becomes a participant: they can sign in and see "
                "their own structure."
            ),
        )

    def investor_login_view(self, request, object_id):
        return self._login_view(
            request,
            object_id,
            form_class=InvestorLoginForm,
            title=_("Give %(name)s a login to their plans"),
            submit_label=_("Give the login"),
            description=_(
                "The investor signs in to see their own plans and ask their participant for "
                "help. They do not become a participant."
            ),
        )

    def _login_view(self, request, object_id, *, form_class, title, submit_label, description):
        """The page of a login service: only for those who may also add users."""
        investor = self.object_for_change(request, object_id)
        if not self.can_grant_login(request, investor):
            raise PermissionDenied
        return self.service_tool_view(
            request,
            investor,
            form_class=form_class,
            form_kwargs={"investor": investor},
            title=title % {"name": investor.name},
            submit_label=submit_label,
            description=description,
        )


@admin.register(Participant)
class ParticipantAdmin(InvestorAdmin):
    """The investors who can sign in: the partners who bring clients in."""

    list_display = ["name", "login", "phone", "email", "language", "client_count", "plan_count"]
    list_filter = ["language"]
    list_select_related = ["user"]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(client_count=_count_of(Investor.objects.all(), "sponsor"))
        )

    @admin.display(description=_("direct clients"), ordering="client_count")
    def client_count(self, investor):
        return investor.client_count

    def has_add_permission(self, request):
        return False  # an investor becomes a participant by being granted a login


# ---------------------------------------------------------------------------- contact log


@admin.register(ContactLogEntry)
class ContactLogEntryAdmin(admin.ModelAdmin):
    """What participants logged when they contacted their clients. Read-only: the log is a
    record of what happened; participants write it from the Structure."""

    list_display = [
        "contacted_at_iso",
        "investor",
        "outcome",
        "promised_on_iso",
        "promised_amount",
        "promise",
        "author",
    ]
    list_filter = ["outcome"]
    list_select_related = ["investor", "author"]
    search_fields = ["investor__name", "investor__phone", "investor__email", "note"]
    date_hierarchy = "contacted_at"
    fields = [
        "investor_link",
        "author",
        "contacted_at_iso",
        "outcome",
        "promised_on_iso",
        "promised_amount",
        "promise",
        "note",
    ]
    readonly_fields = fields
    contacted_at_iso = iso_datetime("contacted_at", _("contacted at"))
    promised_on_iso = iso_date("promised_on", _("promised payment date"))

    def get_queryset(self, request):
        return super().get_queryset(request).with_promise_state(request_today(request))

    @admin.display(description=_("promise"))
    def promise(self, entry):
        if entry.promise_state is None:
            return shown(self, None)
        return PromiseState(entry.promise_state).label

    @admin.display(description=_("investor"))
    def investor_link(self, entry):
        return admin_link(entry.investor)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
