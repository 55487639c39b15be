"""Admin building blocks shared by the apps: ISO date columns, read-only inlines, and pages
that put one form in front of one service call (a refusal is a form error and changes nothing).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME, AdminForm
from django.contrib.admin.utils import quote, unquote
from django.contrib.admin.widgets import AutocompleteSelect
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models
from django.http import Http404, HttpRequest, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _

from backoffice.lib.dates import business_today
from backoffice.lib.errors import DomainError


class ServiceForm(forms.Form):
    """A form whose `save()` calls a service with the cleaned input."""

    # form field name -> (model, foreign key) whose admin autocomplete serves the field
    autocomplete_fields: dict[str, tuple[type[models.Model], str]] = {}

    def __init__(self, *args, admin_site=None, **kwargs):
        super().__init__(*args, **kwargs)
        # Labels from the models' verbose names, capitalised as the admin's own forms are.
        for field in self.fields.values():
            if field.label:
                field.label = capfirst(field.label)
        if admin_site is None:
            return
        for name, (model, fk_name) in self.autocomplete_fields.items():
            field = self.fields[name]
            field.widget = AutocompleteSelect(model._meta.get_field(fk_name), admin_site)
            field.widget.choices = field.choices
            field.widget.is_required = field.required

    def perform(self, *, today: dt.date, actor) -> Any:
        raise NotImplementedError

    def success_message(self, result) -> str:
        raise NotImplementedError

    def save(self, *, today: dt.date, actor) -> Any | None:
        """The service's result, or None when it refused: then the refusal is a form error."""
        try:
            return self.perform(today=today, actor=actor)
        except DomainError as error:
            self.add_domain_error(error)
            return None

    def add_domain_error(self, error: DomainError) -> None:
        field = error.field if error.field in self.fields else None
        self.add_error(field, ValidationError(error.message, code=error.code))


def request_today(request: HttpRequest) -> dt.date:
    """The business date of this request, computed once: a filter, the columns and an action
    of one request must agree on "today", even across midnight."""
    today = getattr(request, "_business_today", None)
    if today is None:
        today = request._business_today = business_today()
    return today


def shown(model_admin, value):
    """The value, or the admin's empty marker: a read-only callable would print "None"."""
    return model_admin.get_empty_value_display() if value is None else value


def field_label(model: type[models.Model], name: str):
    return model._meta.get_field(name).verbose_name


def iso_date(name: str, description, *, ordering=None) -> Callable:
    """A column or read-only field showing a date attribute as YYYY-MM-DD.

    The admin would otherwise format dates for the locale ("Jan. 10, 2025").
    """

    @admin.display(description=description, ordering=ordering or name)
    def display(model_admin, obj):
        value = getattr(obj, name, None)
        return shown(model_admin, value.isoformat() if value else None)

    display.__name__ = f"{name}_iso"
    return display


def iso_datetime(name: str, description) -> Callable:
    """A timestamp in the business time zone, to the minute."""

    @admin.display(description=description, ordering=name)
    def display(model_admin, obj):
        value = getattr(obj, name, None)
        return shown(
            model_admin, timezone.localtime(value).strftime("%Y-%m-%d %H:%M") if value else None
        )

    display.__name__ = f"{name}_iso"
    return display


def admin_link(obj: models.Model, text=None):
    opts = obj._meta
    url = reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[quote(obj.pk)])
    return format_html('<a href="{}">{}</a>', url, obj if text is None else text)


class ReadOnlyAdminMixin:
    """Rows written only by services: nobody adds, changes or deletes them here, not even a
    superuser. Viewing follows the usual view permission."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class PartInline(ReadOnlyAdminMixin, admin.TabularInline):
    """Read-only rows that are part of the parent (a plan's installments, a payment's
    allocations): whoever may see the parent sees them."""

    extra = 0
    can_delete = False

    def has_view_permission(self, request, obj=None):
        parent_admin = self.admin_site._registry.get(self.parent_model)
        return parent_admin is not None and parent_admin.has_view_or_change_permission(request, obj)


class ServiceViewsMixin:
    """Pages that put one form in front of one service call: the per-object tools (buttons on
    the change page), add pages that must go through a service, and the intermediate page of
    changelist actions. A refusal is shown as a form error and has changed nothing."""

    service_form_template = "admin/service_form.html"
    change_form_template = "admin/service_tools_change_form.html"

    def admin_url(self, name: str, *args) -> str:
        opts = self.opts
        return reverse(
            f"{self.admin_site.name}:{opts.app_label}_{opts.model_name}_{name}",
            args=[quote(arg) for arg in args],
        )

    def service_urls(self, views: list[tuple[str, str, object]]) -> list:
        """The URLs of the per-object service pages, each (route, URL name, view). They go
        before the default URLs: "<path:object_id>/" would swallow them."""
        opts = self.opts
        return [
            path(
                f"<path:object_id>/{route}/",
                self.admin_site.admin_view(view),
                name=f"{opts.app_label}_{opts.model_name}_{name}",
            )
            for route, name, view in views
        ]

    def object_for_change(self, request, object_id):
        obj = self.get_object(request, unquote(object_id))
        if obj is None:
            raise Http404(
                _("%(name)s with ID “%(key)s” doesn’t exist.")
                % {"name": self.opts.verbose_name, "key": unquote(object_id)}
            )
        if not self.has_change_permission(request, obj):
            raise PermissionDenied
        return obj

    def render_service_form(
        self,
        request,
        form: ServiceForm,
        *,
        title,
        submit_label,
        cancel_url: str,
        obj=None,
        description="",
        action: str | None = None,
        objects: Iterable = (),
    ):
        fieldsets = [(None, {"fields": list(form.fields)})]
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": title,
            "original": obj,
            "description": description,
            "adminform": AdminForm(form, fieldsets, {}, model_admin=self),
            "errors": form.errors,
            "media": self.media + form.media,
            "submit_label": submit_label,
            "cancel_url": cancel_url,
            "action_name": action,
            "objects": list(objects),
            "action_checkbox_name": ACTION_CHECKBOX_NAME,
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, self.service_form_template, context)

    def service_form_view(
        self,
        request,
        *,
        form_class: type[ServiceForm],
        title,
        submit_label,
        success_url: Callable[[object], str],
        cancel_url: str,
        obj=None,
        form_kwargs: dict | None = None,
        initial: dict | None = None,
        description="",
        on_success: Callable[[object, str], None] | None = None,
    ):
        form_kwargs = {"admin_site": self.admin_site, **(form_kwargs or {})}
        if request.method == "POST":
            form = form_class(request.POST, **form_kwargs)
            if form.is_valid():
                result = form.save(today=request_today(request), actor=request.user)
                if result is not None:
                    message = str(form.success_message(result))
                    if on_success is not None:
                        on_success(result, message)
                    self.message_user(request, message, messages.SUCCESS)
                    return HttpResponseRedirect(success_url(result))
        else:
            form = form_class(initial=initial, **form_kwargs)
        return self.render_service_form(
            request,
            form,
            title=title,
            submit_label=submit_label,
            cancel_url=cancel_url,
            obj=obj,
            description=description,
        )

    def service_add_view(
        self, request, *, form_class: type[ServiceForm], title, submit_label, initial: dict
    ):
        """The add page of a model whose rows only a service may create: the service's form,
        then the new object's change page, with the addition in the admin's history."""
        if not self.has_add_permission(request):
            raise PermissionDenied

        def on_success(obj, message):
            self.log_addition(request, obj, message)

        return self.service_form_view(
            request,
            form_class=form_class,
            title=title,
            submit_label=submit_label,
            initial=initial,
            success_url=lambda obj: self.admin_url("change", obj.pk),
            cancel_url=self.admin_url("changelist"),
            on_success=on_success,
        )

    def service_tool_view(
        self,
        request,
        obj,
        *,
        form_class: type[ServiceForm],
        form_kwargs: dict,
        title,
        submit_label,
        description="",
        initial: dict | None = None,
    ):
        """A button of `obj`'s change page: the service's form, then back to the change page,
        with the change in the admin's history of `obj`."""
        change_url = self.admin_url("change", obj.pk)

        def on_success(result, message):
            self.log_change(request, obj, message)

        return self.service_form_view(
            request,
            form_class=form_class,
            form_kwargs=form_kwargs,
            obj=obj,
            title=title,
            submit_label=submit_label,
            description=description,
            initial=initial,
            success_url=lambda result: change_url,
            cancel_url=change_url,
            on_success=on_success,
        )

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:
            context["service_tools"] = self.service_tools(request, obj)
        return super().render_change_form(request, context, add, change, form_url, obj)

    def service_tools(self, request, obj) -> list[dict]:
        """Buttons for the change page's object tools: [{"label", "url"}]."""
        return []
