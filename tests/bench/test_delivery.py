"""The delivery measurement: the fake gateway answers like the gateway the product's HTTP
backend talks to, and the measurement sends every reminder through real workers and leaves
the outbox as it found it. Timings are never asserted."""

import pytest

from backoffice.lib.dates import business_today
from bench import delivery, generate
from bench.gateway import FakeGateway
from bench.scale import SCALES
from reminders import channels
from reminders.models import Reminder
from tests.reminders.conftest import (  # noqa: F401
    broker_pools_closed,
    database_url,
    own_redis,
    seed_defaults,
)


def _sms(gateway: FakeGateway, settings) -> channels.HttpSmsGateway:
    settings.SMS_GATEWAY_URL = f"{gateway.url}/sms"
    settings.SMS_GATEWAY_TOKEN = "token"
    return channels.HttpSmsGateway("sms")


def test_the_fake_gateway_accepts_the_product_s_request_after_its_latency(settings):
    with FakeGateway(latency=0.001) as gateway:
        backend = _sms(gateway, settings)
        message = channels.Outgoing(to="+919812345678", subject="", text="hi", reference="r-1")
        backend.send(message)
        backend.send(message)
        assert gateway.accepted == {"r-1": 2}
        assert gateway.delivered() == {"r-1"}


def test_the_fake_gateway_refuses_a_body_whose_reference_is_not_the_idempotency_key(settings):
    with FakeGateway(latency=0.001) as gateway:
        backend = _sms(gateway, settings)
        message = channels.Outgoing(to="+919812345678", subject="", text="hi", reference="r-2")
        backend.body = lambda m: {"to": m.to, "text": m.text, "reference": "other"}
        with pytest.raises(channels.PermanentError):
            backend.send(message)
        assert gateway.delivered() == set()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_delivery_sends_every_reminder_with_one_worker_then_two_and_forgets_its_rows(
    monkeypatch,
    own_redis,  # noqa: F811
):
    seed_defaults()  # an earlier transactional test's flush removed the migrations' cadence
    generate.load_portfolio(scale=SCALES["tiny"], today=business_today())
    before = set(Reminder.objects.values_list("pk", flat=True))
    from backoffice.celery import app

    # Saved before the environment names this test's Redis: Celery reads CELERY_BROKER_URL
    # from the environment first.
    saved = app.conf.broker_url, app.conf.task_always_eager
    # The workers read the test database and this test's own Redis.
    monkeypatch.setenv("DATABASE_URL", database_url())
    monkeypatch.setenv("CELERY_BROKER_URL", own_redis.url)
    monkeypatch.setenv("CELERY_TASK_ALWAYS_EAGER", "false")
    app.conf.broker_url, app.conf.task_always_eager = own_redis.url, False
    try:
        result = delivery.measure_delivery(rows=30, runs=1, timeout=120)
    finally:
        app.conf.broker_url, app.conf.task_always_eager = saved
        broker_pools_closed(app)

    assert result["delivery_rows"] == 30
    for count in ("1", "2"):
        assert len(result["delivery_runs"][count]) == 1
        assert 1 <= result["delivery_most_in_flight"][count] <= int(count)
    assert result["delivery_scaling"] == pytest.approx(
        result["delivery_per_second_2"] / result["delivery_per_second_1"]
    )
    # Every row it wrote (and sent twice) is gone, and so is its record of them.
    assert set(Reminder.objects.values_list("pk", flat=True)) == before
    assert delivery._meta_ids() == []
    assert own_redis.queued() == 0
