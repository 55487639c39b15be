from django.apps import AppConfig


class DashboardConfig(AppConfig):
    name = "dashboard"
    verbose_name = "Dashboard"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from reminders.signals import scan_finished

        from .tasks import snapshots_after_scan

        # The reminders floor may not import the dashboard: it sends, the dashboard listens.
        scan_finished.connect(snapshots_after_scan, dispatch_uid="dashboard.snapshots_after_scan")
