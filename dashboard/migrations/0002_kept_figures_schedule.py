"""Every ten minutes, today's figures kept on the investors whose row a plan write emptied
(`dashboard.kept_figures_refresh`); the night's scan also runs it when it finishes."""

from django.db import migrations

NAME = "Keep the dashboard's figures"


def schedule(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    if PeriodicTask.objects.filter(name=NAME).exists():
        return
    every, _ = IntervalSchedule.objects.get_or_create(every=10, period="minutes")
    PeriodicTask.objects.create(
        name=NAME,
        task="dashboard.kept_figures_refresh",
        interval=every,
        description=(
            "Keep today's dashboard figures on the investors whose plans changed since the last "
            "run (after the night's scan: on every investor)."
        ),
    )


def unschedule(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("dashboard", "0001_initial"),
        ("clients", "0011_investor_kept_figures"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(schedule, unschedule)]
