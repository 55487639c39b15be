"""Daily snapshots: the dashboard's figures of one day, kept so history is cheap to chart
and stays what it was when plans change later."""

from django.db import models
from django.utils.translation import gettext_lazy as _

from installments.fields import MONEY


class Snapshot(models.Model):
    """One day's figures for one participant's structure, or for the whole book
    (`participant` empty). Written after each scan and by `snapshots_backfill`."""

    as_of = models.DateField(_("date"))
    participant = models.ForeignKey(
        "clients.Investor",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        verbose_name=_("participant"),
    )
    clients = models.PositiveIntegerField(_("clients"))
    invested = models.DecimalField(_("invested"), **MONEY)
    cancelled = models.DecimalField(_("cancelled"), **MONEY)
    # Known only on the day itself: a backfilled date leaves them empty, since payments
    # recorded since then rewrote the plans' oldest unpaid due dates.
    overdue_clients = models.PositiveIntegerField(_("overdue clients"), null=True, blank=True)
    overdue_amount = models.DecimalField(_("overdue amount"), null=True, blank=True, **MONEY)
    backfilled = models.BooleanField(_("backfilled"), default=False)
    written_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-as_of"]
        verbose_name = _("daily snapshot")
        verbose_name_plural = _("daily snapshots")
        constraints = [
            # One row per participant and day, and one for the book (NULLs are distinct in a
            # plain unique constraint, hence the second one).
            models.UniqueConstraint(
                fields=["participant", "as_of"],
                condition=models.Q(participant__isnull=False),
                name="snapshot_participant_day_unique",
            ),
            models.UniqueConstraint(
                fields=["as_of"],
                condition=models.Q(participant__isnull=True),
                name="snapshot_book_day_unique",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.participant or _('the whole book')} · {self.as_of}"


class KeptFiguresCheck(models.Model):
    """A refresh of the kept figures (`dashboard.kept`) for `day`: started, and once it has
    checked every investor, `checked_at`. Each row kept under `stamp` then held that day's
    figures, or was rewritten with them, so a row kept for an earlier day still holds on
    `day` until a write empties its stamp."""

    day = models.DateField(_("day"))
    stamp = models.IntegerField(_("stamp"))
    started_at = models.DateTimeField(_("started at"), auto_now_add=True)
    checked_at = models.DateTimeField(_("checked at"), null=True, blank=True)

    class Meta:
        ordering = ["-day"]
        verbose_name = _("check of the kept figures")
        verbose_name_plural = _("checks of the kept figures")
        constraints = [
            models.UniqueConstraint(fields=["day", "stamp"], name="kept_figures_check_unique")
        ]

    def __str__(self) -> str:
        return f"{self.day} · {self.stamp}"
