"""The help-request message names the client's phone and e-mail only when they have one (it
printed an empty "Email:" for a client without an address). Only the line as it was seeded
is rewritten: a text whose contact line an admin has changed is left as it is."""

from django.db import migrations

LINES = {
    "en": (
        "Phone: {{ investor_phone }}  Email: {{ investor_email }}\n",
        "{% if investor_phone %}Phone: {{ investor_phone }}\n{% endif %}"
        "{% if investor_email %}Email: {{ investor_email }}\n{% endif %}",
    ),
    "hi": (
        "फ़ोन: {{ investor_phone }}  ईमेल: {{ investor_email }}\n",
        "{% if investor_phone %}फ़ोन: {{ investor_phone }}\n{% endif %}"
        "{% if investor_email %}ईमेल: {{ investor_email }}\n{% endif %}",
    ),
}


def rewrite(apps, schema_editor, *, forward=True):
    MessageTemplate = apps.get_model("reminders", "MessageTemplate")
    for language, (old, new) in LINES.items():
        before, after = (old, new) if forward else (new, old)
        for template in MessageTemplate.objects.filter(
            step__code="help-request", language=language, body__contains=before
        ):
            template.body = template.body.replace(before, after)
            template.save(update_fields=["body"])


def backward(apps, schema_editor):
    rewrite(apps, schema_editor, forward=False)


class Migration(migrations.Migration):
    dependencies = [("reminders", "0007_model_verbose_names")]

    operations = [migrations.RunPython(rewrite, backward)]
