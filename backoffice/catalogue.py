"""Django's own strings whose Hindi the project's catalogue gives (locale/hi): named here so
that `makemessages` keeps them. Django's Hindi catalogue writes three months without the
anusvara, and leaves the password rules in English. Nothing imports this module."""

from django.utils.translation import gettext_noop, ngettext_lazy

MONTHS = [gettext_noop("September"), gettext_noop("November"), gettext_noop("December")]

PASSWORD_RULES = [
    gettext_noop("Your password can’t be too similar to your other personal information."),
    ngettext_lazy(
        "Your password must contain at least %(min_length)d character.",
        "Your password must contain at least %(min_length)d characters.",
        "min_length",
    ),
    gettext_noop("Your password can’t be a commonly used password."),
    gettext_noop("Your password can’t be entirely numeric."),
    gettext_noop("The password is too similar to the %(verbose_name)s."),
    gettext_noop("This password is too common."),
    gettext_noop("This password is entirely numeric."),
    ngettext_lazy(
        "This password is too short. It must contain at least %(min_length)d character.",
        "This password is too short. It must contain at least %(min_length)d characters.",
        "min_length",
    ),
]
