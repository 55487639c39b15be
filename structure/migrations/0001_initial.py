"""The contact log moves from `clients` to `structure`, its rows kept: the model's state is
created here over the existing table, which is then renamed to this app's name."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('clients', '0004_investor_overdue_read_model'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='ContactLogEntry',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('contacted_at', models.DateTimeField(verbose_name='contacted at')),
                        ('contacted_on', models.DateField(verbose_name='contacted on')),
                        ('outcome', models.CharField(choices=[('reached', 'reached'), ('no_answer', 'no answer'), ('promised', 'promised to pay'), ('cannot_pay', 'cannot pay'), ('wrong_number', 'wrong number')], max_length=16, verbose_name='outcome')),
                        ('promised_on', models.DateField(blank=True, null=True, verbose_name='promised payment date')),
                        ('promised_amount', models.DecimalField(blank=True, decimal_places=2, max_digits=14, null=True, verbose_name='promised amount')),
                        ('note', models.TextField(blank=True, verbose_name='note')),
                        ('author', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL, verbose_name='logged by')),
                        ('investor', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='contact_log', to='clients.investor', verbose_name='investor')),
                    ],
                    options={
                        'db_table': 'clients_contactlogentry',
                        'verbose_name': 'contact log entry',
                        'verbose_name_plural': 'contact log',
                        'ordering': ['-contacted_at', '-id'],
                        'indexes': [models.Index(fields=['investor', '-contacted_at', '-id'], name='contact_investor_latest_idx')],
                        'constraints': [models.CheckConstraint(condition=models.Q(models.Q(('outcome', 'promised'), ('promised_amount__gt', 0), ('promised_on__isnull', False)), models.Q(models.Q(('outcome', 'promised'), _negated=True), ('promised_amount__isnull', True), ('promised_on__isnull', True)), _connector='OR'), name='contact_promise_fields')],
                    },
                ),
            ],
            database_operations=[],
        ),
        migrations.AlterModelTable(name='contactlogentry', table=None),
    ]
