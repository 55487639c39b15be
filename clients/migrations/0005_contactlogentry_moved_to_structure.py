"""The contact log now belongs to `structure` (its 0001 takes the table over)."""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('clients', '0004_investor_overdue_read_model'),
        ('structure', '0001_initial'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name='ContactLogEntry')],
            database_operations=[],
        ),
    ]
