"""One word per idea: a moment of the reminder cadence is a "step" (a "level" is a depth in
the sponsor tree). Renames only: the rows stay."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('reminders', '0002_default_cadence_texts_and_schedule'),
    ]

    operations = [
        # The constraint names the field: dropped before the rename, made again after it.
        migrations.RemoveConstraint(
            model_name='messagetemplate',
            name='template_level_language_uq',
        ),
        migrations.RenameModel(old_name='CadenceLevel', new_name='CadenceStep'),
        migrations.RenameField(model_name='messagetemplate', old_name='level', new_name='step'),
        migrations.AlterModelOptions(
            name='cadencestep',
            options={'ordering': ['trigger', 'offset_days', 'code'], 'verbose_name': 'cadence step'},
        ),
        migrations.AlterModelOptions(
            name='messagetemplate',
            options={'ordering': ['step', 'language'], 'verbose_name': 'message template'},
        ),
        migrations.AlterField(
            model_name='cadencestep',
            name='offset_days',
            field=models.SmallIntegerField(default=0, help_text="−3: three days before the due date; 0: on it; 7: a week after. A step's message stays true until the next step's day, so a scan that missed nights sends only the step still true.", verbose_name='days from the due date'),
        ),
        migrations.AlterField(
            model_name='messagetemplate',
            name='step',
            field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='templates', to='reminders.cadencestep', verbose_name='step'),
        ),
        migrations.AlterField(
            model_name='reminder',
            name='kind',
            field=models.SlugField(help_text="The cadence step's code.", max_length=40, verbose_name='kind'),
        ),
        migrations.AddConstraint(
            model_name='messagetemplate',
            constraint=models.UniqueConstraint(fields=('step', 'language'), name='template_step_language_uq'),
        ),
    ]
