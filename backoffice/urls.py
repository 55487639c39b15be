from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect
from django.templatetags.static import static
from django.urls import include, path
from django.utils.translation import gettext_lazy as _
from django.views.generic import TemplateView

from backoffice.api import api_urlpatterns
from clients.selectors import structure_root_of
from clients.tokens import TokenRotatingPasswordChangeForm
from operations.health import ALL_CHECKS, WEB_CHECKS, HealthView

admin.site.site_header = _("Installment back office")
admin.site.site_title = _("Back office admin")

# Signing in, out, changing one's password, and resetting a forgotten one by email (Django's
# views: a single-use link, valid for PASSWORD_RESET_TIMEOUT).
account_urlpatterns = [
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    # Own template names: the admin's password change renders registration/password_change_*.
    path(
        "password/",
        auth_views.PasswordChangeView.as_view(
            template_name="registration/password.html", form_class=TokenRotatingPasswordChangeForm
        ),
        name="password_change",
    ),
    path(
        "password/done/",
        auth_views.PasswordChangeDoneView.as_view(template_name="registration/password_done.html"),
        name="password_change_done",
    ),
    path(
        "password/reset/",
        auth_views.PasswordResetView.as_view(
            template_name="registration/reset.html",
            email_template_name="registration/reset_email.txt",
            subject_template_name="registration/reset_subject.txt",
        ),
        name="password_reset",
    ),
    path(
        "password/reset/sent/",
        auth_views.PasswordResetDoneView.as_view(template_name="registration/reset_sent.html"),
        name="password_reset_done",
    ),
    path(
        "password/reset/<uidb64>/<token>/",
        auth_views.PasswordResetConfirmView.as_view(
            template_name="registration/reset_confirm.html"
        ),
        name="password_reset_confirm",
    ),
    path(
        "password/reset/done/",
        auth_views.PasswordResetCompleteView.as_view(template_name="registration/reset_done.html"),
        name="password_reset_complete",
    ),
]


@login_required
def start(request):
    """Where signing in lands: a participant's Structure, staff the Structure's participant
    picker, an investor their own plans."""
    if request.user.is_staff or structure_root_of(request.user) is not None:
        return redirect("structure")
    return redirect("my-plans")


urlpatterns = [
    path("", TemplateView.as_view(template_name="home.html"), name="home"),
    # Browsers ask for /favicon.ico whatever the page's <link rel="icon"> says.
    path("favicon.ico", lambda request: redirect(static("favicon.svg"), permanent=True)),
    path("accounts/", include(account_urlpatterns)),
    path("i18n/", include("django.conf.urls.i18n")),
    path("start/", start, name="start"),
    path("structure/", include("structure.urls")),
    path("me/", include("investors.urls")),
    path("dashboard/", include("dashboard.urls")),
    path("admin/", admin.site.urls),
    path("api/", include(api_urlpatterns())),
    # Probes: everything (503 when a check fails), and the web container's own subset.
    path("health/", HealthView.as_view(checks=ALL_CHECKS), name="health"),
    path("health/web/", HealthView.as_view(checks=WEB_CHECKS), name="health-web"),
]
