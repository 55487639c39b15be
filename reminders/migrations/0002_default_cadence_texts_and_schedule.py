"""The default cadence, its texts in English and Hindi, and the beat schedule.

Seeded as rows so admins edit them without a deploy. Idempotent (get_or_create by code, by
level and language, by task name): running it again never overwrites an admin's edits.
Nepali has no texts of its own yet: Nepali readers get the English ones.
"""

from django.conf import settings
from django.db import migrations

CONTACT_EN = (
    "{% if participant_phone %}, {{ participant_phone }}{% endif %}"
    "{% if participant_email %}, {{ participant_email }}{% endif %}"
    "{% if participant_messenger %}, {{ participant_messenger }}{% endif %}"
)
PAY_EN = "How to pay: {{ payment_instructions }} Reference: {{ payment_reference }}."
PAY_HI = "भुगतान कैसे करें: {{ payment_instructions }} संदर्भ: {{ payment_reference }}।"

UPCOMING_EN = (
    "Dear {{ investor_name }},\n\n"
    "Installment {{ installment_number }} of your {{ package }} plan (#{{ plan_id }}), "
    "{{ currency }} {{ amount_due }}, is due on {{ due_date }}.\n\n"
    "Paying on time keeps every share coming: the final payment alone credits "
    "{{ final_shares }} of your {{ shares_total }} shares (about {{ final_percent }}%). "
    "If it stays unpaid, {{ last_day_to_pay }} is the last day that saves the plan.\n\n"
    f"{PAY_EN}\n"
    "Questions? {{ participant_name }}" + CONTACT_EN + "."
)
UPCOMING_HI = (
    "प्रिय {{ investor_name }},\n\n"
    "आपकी {{ package }} योजना (#{{ plan_id }}) की किस्त {{ installment_number }}, "
    "{{ currency }} {{ amount_due }}, {{ due_date }} को देय है।\n\n"
    "समय पर भुगतान करने से आपके सभी शेयर मिलते रहेंगे: केवल अंतिम भुगतान से ही आपके "
    "{{ shares_total }} शेयरों में से {{ final_shares }} (लगभग {{ final_percent }}%) जमा होते हैं। "
    "भुगतान न होने पर योजना बचाने का अंतिम दिन {{ last_day_to_pay }} है।\n\n"
    f"{PAY_HI}\n"
    "प्रश्न? {{ participant_name }}" + CONTACT_EN + "।"
)
OVERDUE_EN = (
    "Dear {{ investor_name }},\n\n"
    "{{ currency }} {{ overdue_amount }} is overdue on your {{ package }} plan "
    "(#{{ plan_id }}). You have {{ days_left }} day{{ days_left|pluralize }} left: pay by "
    "{{ grace_deadline }} to keep your plan.\n\n"
    "If it is not paid by then, the plan is cancelled: you keep the {{ shares_credited }} "
    "shares credited so far and lose the other {{ shares_lost }} of your {{ shares_total }} "
    "shares, including the {{ final_shares }} (about {{ final_percent }}%) that the final "
    "payment credits.\n\n"
    f"{PAY_EN}\n"
    "Need help or more time? Contact {{ participant_name }}" + CONTACT_EN + "."
)
OVERDUE_HI = (
    "प्रिय {{ investor_name }},\n\n"
    "आपकी {{ package }} योजना (#{{ plan_id }}) पर {{ currency }} {{ overdue_amount }} बकाया है। "
    "आपके पास {{ days_left }} दिन शेष हैं: अपनी योजना बचाने के लिए {{ grace_deadline }} तक "
    "भुगतान करें।\n\n"
    "यदि तब तक भुगतान नहीं हुआ, तो योजना रद्द हो जाएगी: अब तक जमा हुए {{ shares_credited }} "
    "शेयर आपके रहेंगे, और आपके {{ shares_total }} शेयरों में से बाकी {{ shares_lost }} शेयर "
    "नहीं मिलेंगे, जिनमें अंतिम भुगतान से मिलने वाले {{ final_shares }} "
    "(लगभग {{ final_percent }}%) शामिल हैं।\n\n"
    f"{PAY_HI}\n"
    "सहायता या अधिक समय चाहिए? {{ participant_name }} से संपर्क करें" + CONTACT_EN + "।"
)
CANCELLED_EN = (
    "Dear {{ investor_name }},\n\n"
    "Your {{ package }} plan (#{{ plan_id }}) was cancelled on {{ cancelled_on }}: the "
    "overdue amount was not paid within the grace period.\n\n"
    "You keep the {{ shares_credited }} shares credited so far; the other {{ shares_lost }} "
    "of your {{ shares_total }} shares will not be credited.\n\n"
    "If you paid on or before the grace deadline, or to talk about restoring the plan, "
    "contact {{ participant_name }}" + CONTACT_EN + "."
)
CANCELLED_HI = (
    "प्रिय {{ investor_name }},\n\n"
    "आपकी {{ package }} योजना (#{{ plan_id }}) {{ cancelled_on }} को रद्द कर दी गई: बकाया "
    "राशि छूट अवधि में जमा नहीं हुई।\n\n"
    "अब तक जमा हुए {{ shares_credited }} शेयर आपके रहेंगे; आपके {{ shares_total }} शेयरों में "
    "से बाकी {{ shares_lost }} शेयर जमा नहीं होंगे।\n\n"
    "यदि आपने छूट अवधि की अंतिम तिथि तक भुगतान किया था, या योजना बहाल करने के बारे में बात "
    "करनी है, तो {{ participant_name }} से संपर्क करें" + CONTACT_EN + "।"
)
DIGEST_EN = (
    "Hello {{ participant_name }},\n\n"
    "Your structure on {{ digest_date }}:\n"
    "- clients with overdue payments: {{ overdue_clients }}\n"
    "- of them, 3 days or fewer left: {{ due_soon_clients }}\n"
    "- plans cancelled: {{ cancelled_plans }}\n"
    "{% if urgent %}\nMost urgent:\n{% for c in urgent %}- {{ c.name }}: {{ c.days_left }} "
    "day{{ c.days_left|pluralize }} left, {{ currency }} {{ c.overdue_amount }} overdue"
    "{% if c.phone %}, {{ c.phone }}{% endif %}\n{% endfor %}"
    "{% if more %}… and {{ more }} more.\n{% endif %}{% endif %}\n"
    "See them all: {{ structure_url }}"
)
DIGEST_HI = (
    "नमस्ते {{ participant_name }},\n\n"
    "{{ digest_date }} को आपकी संरचना:\n"
    "- बकाया भुगतान वाले ग्राहक: {{ overdue_clients }}\n"
    "- इनमें से 3 दिन या कम शेष: {{ due_soon_clients }}\n"
    "- रद्द हुई योजनाएँ: {{ cancelled_plans }}\n"
    "{% if urgent %}\nसबसे ज़रूरी:\n{% for c in urgent %}- {{ c.name }}: {{ c.days_left }} दिन "
    "शेष, {{ currency }} {{ c.overdue_amount }} बकाया{% if c.phone %}, {{ c.phone }}{% endif %}"
    "\n{% endfor %}{% if more %}… और {{ more }} अन्य।\n{% endif %}{% endif %}\n"
    "सभी देखें: {{ structure_url }}"
)

SHORT_UPCOMING_EN = (
    "Reminder: installment {{ installment_number }} of plan #{{ plan_id }}, {{ currency }} "
    "{{ amount_due }}, is due {{ due_date }}. Ref {{ payment_reference }}. "
    "Help: {{ participant_name }} {{ participant_phone }}"
)
SHORT_UPCOMING_HI = (
    "अनुस्मारक: योजना #{{ plan_id }} की किस्त {{ installment_number }}, {{ currency }} "
    "{{ amount_due }}, {{ due_date }} को देय है। संदर्भ {{ payment_reference }}। "
    "सहायता: {{ participant_name }} {{ participant_phone }}"
)
SHORT_OVERDUE_EN = (
    "Plan #{{ plan_id }}: {{ currency }} {{ overdue_amount }} overdue. Pay by "
    "{{ grace_deadline }} ({{ days_left }} days left) or lose {{ shares_lost }} shares. "
    "Ref {{ payment_reference }}. Help: {{ participant_name }} {{ participant_phone }}"
)
SHORT_OVERDUE_HI = (
    "योजना #{{ plan_id }}: {{ currency }} {{ overdue_amount }} बकाया। {{ grace_deadline }} तक "
    "भुगतान करें ({{ days_left }} दिन शेष), वरना {{ shares_lost }} शेयर खो देंगे। "
    "संदर्भ {{ payment_reference }}। सहायता: {{ participant_name }} {{ participant_phone }}"
)
SHORT_CANCELLED_EN = (
    "Plan #{{ plan_id }} was cancelled on {{ cancelled_on }}. You keep {{ shares_credited }} "
    "shares. Paid in time or want it restored? {{ participant_name }} {{ participant_phone }}"
)
SHORT_CANCELLED_HI = (
    "योजना #{{ plan_id }} {{ cancelled_on }} को रद्द हो गई। {{ shares_credited }} शेयर आपके "
    "रहेंगे। समय पर भुगतान किया था या बहाली चाहिए? {{ participant_name }} {{ participant_phone }}"
)
SHORT_DIGEST_EN = (
    "{{ digest_date }}: {{ overdue_clients }} clients overdue, {{ due_soon_clients }} with "
    "3 days or fewer, {{ cancelled_plans }} plans cancelled. {{ structure_url }}"
)
SHORT_DIGEST_HI = (
    "{{ digest_date }}: {{ overdue_clients }} ग्राहक बकायादार, {{ due_soon_clients }} के पास "
    "3 दिन या कम, {{ cancelled_plans }} योजनाएँ रद्द। {{ structure_url }}"
)

# code, name, trigger, offset, recipient, email, sms, {language: (subject, body, short)}
LEVELS = [
    (
        "upcoming", "Upcoming (D−3)", "due_date", -3, "investor", True, True,
        {
            "en": ("Installment {{ installment_number }} of plan #{{ plan_id }} is due on "
                   "{{ due_date }}", UPCOMING_EN, SHORT_UPCOMING_EN),
            "hi": ("योजना #{{ plan_id }} की किस्त {{ installment_number }} {{ due_date }} को "
                   "देय है", UPCOMING_HI, SHORT_UPCOMING_HI),
        },
    ),
    (
        "due-today", "Due today (D)", "due_date", 0, "investor", True, True,
        {
            "en": ("Installment {{ installment_number }} of plan #{{ plan_id }} is due today",
                   UPCOMING_EN.replace("due on {{ due_date }}", "due today ({{ due_date }})"),
                   SHORT_UPCOMING_EN.replace("due {{ due_date }}", "due today")),
            "hi": ("योजना #{{ plan_id }} की किस्त {{ installment_number }} आज देय है",
                   UPCOMING_HI.replace("{{ due_date }} को देय", "आज ({{ due_date }}) देय"),
                   SHORT_UPCOMING_HI.replace("{{ due_date }} को", "आज")),
        },
    ),
]
for code, name, offset in [
    ("overdue", "Overdue (D+1)", 1),
    ("overdue-week", "A week overdue (D+7)", 7),
    ("overdue-two-weeks", "Two weeks overdue (D+14)", 14),
    ("last-warning", "Last warning (D+18)", 18),
]:
    last = code == "last-warning"
    LEVELS.append(
        (
            code, name, "due_date", offset, "investor", True, True,
            {
                "en": (
                    ("Last warning: plan" if last else "Plan")
                    + " #{{ plan_id }} has {{ currency }} {{ overdue_amount }} overdue, "
                    "{{ days_left }} day{{ days_left|pluralize }} left",
                    OVERDUE_EN,
                    ("LAST WARNING. " if last else "") + SHORT_OVERDUE_EN,
                ),
                "hi": (
                    ("अंतिम चेतावनी: " if last else "")
                    + "योजना #{{ plan_id }} पर {{ currency }} {{ overdue_amount }} बकाया, "
                    "{{ days_left }} दिन शेष",
                    OVERDUE_HI,
                    ("अंतिम चेतावनी। " if last else "") + SHORT_OVERDUE_HI,
                ),
            },
        )
    )
LEVELS += [
    (
        "cancelled", "Plan cancelled", "cancelled", 0, "investor", True, True,
        {
            "en": ("Plan #{{ plan_id }} has been cancelled", CANCELLED_EN, SHORT_CANCELLED_EN),
            "hi": ("योजना #{{ plan_id }} रद्द कर दी गई है", CANCELLED_HI, SHORT_CANCELLED_HI),
        },
    ),
    (
        "digest", "Participant's daily digest", "digest", 0, "participant", True, False,
        {
            "en": ("Your structure on {{ digest_date }}: {{ overdue_clients }} overdue, "
                   "{{ due_soon_clients }} with 3 days or fewer", DIGEST_EN, SHORT_DIGEST_EN),
            "hi": ("{{ digest_date }} को आपकी संरचना: {{ overdue_clients }} बकायादार, "
                   "{{ due_soon_clients }} के पास 3 दिन या कम", DIGEST_HI, SHORT_DIGEST_HI),
        },
    ),
]

SCHEDULE = [
    # name, task, crontab (minute, hour) or interval minutes, description
    ("Nightly scan", "reminders.scan_nightly", ("0", "2"), None,
     "Cancel plans past their grace deadline, then queue the reminders. 02:00 business time."),
    ("Re-dispatch waiting reminders", "reminders.redispatch", None, 5,
     "Hand over reminders left pending (broker down, quiet hours over, a worker died)."),
    ("Check the nightly scan completed", "reminders.check_scan", ("0", "6"), None,
     "Flag today's scan in the admin and email the admins when it has not completed."),
]


def seed(apps, schema_editor):
    CadenceLevel = apps.get_model("reminders", "CadenceLevel")
    MessageTemplate = apps.get_model("reminders", "MessageTemplate")
    for code, name, trigger, offset, recipient, email, sms, texts in LEVELS:
        level, _ = CadenceLevel.objects.get_or_create(
            code=code,
            defaults={
                "name": name,
                "trigger": trigger,
                "offset_days": offset,
                "recipient": recipient,
                "by_email": email,
                "by_sms": sms,
                "by_messenger": False,
            },
        )
        for language, (subject, body, short) in texts.items():
            MessageTemplate.objects.get_or_create(
                level=level,
                language=language,
                defaults={"subject": subject, "body": body, "short_text": short},
            )

    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    for name, task, crontab, minutes, description in SCHEDULE:
        if PeriodicTask.objects.filter(name=name).exists():
            continue
        if crontab:
            minute, hour = crontab
            schedule, _ = CrontabSchedule.objects.get_or_create(
                minute=minute,
                hour=hour,
                day_of_week="*",
                day_of_month="*",
                month_of_year="*",
                timezone=settings.TIME_ZONE,
            )
            PeriodicTask.objects.create(
                name=name, task=task, crontab=schedule, description=description
            )
        else:
            schedule, _ = IntervalSchedule.objects.get_or_create(every=minutes, period="minutes")
            PeriodicTask.objects.create(
                name=name, task=task, interval=schedule, description=description
            )


class Migration(migrations.Migration):
    dependencies = [
        ("reminders", "0001_initial"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
