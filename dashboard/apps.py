from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DashboardConfig(AppConfig):
    name = "dashboard"
    verbose_name = _("Dashboard")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from reminders.signals import scan_finished
        from structure.signals import demo_loaded

        from .tasks import kept_figures_after_scan, snapshots_after_demo, snapshots_after_scan

        # The floors below may not import the dashboard: they send, the dashboard listens.
        scan_finished.connect(snapshots_after_scan, dispatch_uid="dashboard.snapshots_after_scan")
        scan_finished.connect(
            kept_figures_after_scan, dispatch_uid="dashboard.kept_figures_after_scan"
        )
        demo_loaded.connect(snapshots_after_demo, dispatch_uid="dashboard.snapshots_after_demo")
