from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.generic import TemplateView

from backoffice.api import api_urlpatterns

admin.site.site_header = "Installment back office"
admin.site.site_title = "Back office admin"

# Signing in, out and changing one's password; no self-service reset (staff reset passwords).
account_urlpatterns = [
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    # Own template names: the admin's password change renders registration/password_change_*.
    path(
        "password/",
        auth_views.PasswordChangeView.as_view(template_name="registration/password.html"),
        name="password_change",
    ),
    path(
        "password/done/",
        auth_views.PasswordChangeDoneView.as_view(template_name="registration/password_done.html"),
        name="password_change_done",
    ),
]

urlpatterns = [
    path("", TemplateView.as_view(template_name="home.html"), name="home"),
    path("accounts/", include(account_urlpatterns)),
    path("i18n/", include("django.conf.urls.i18n")),
    path("structure/", include("structure.urls")),
    path("dashboard/", include("dashboard.urls")),
    path("admin/", admin.site.urls),
    path("api/", include(api_urlpatterns())),
]
