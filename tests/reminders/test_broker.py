"""Publishing to the broker: one pooled connection per process and broker, and a connection
that failed is never handed out again (`reminders.broker`). On this test's own Redis."""

import pytest

from reminders import broker

from .conftest import broker_pools_closed

pytestmark = pytest.mark.django_db


@pytest.fixture
def own_broker(own_redis, monkeypatch):
    from backoffice.celery import app

    monkeypatch.setattr(broker, "RECHECK_AFTER", 0.0)
    saved = app.conf.broker_url, app.conf.task_always_eager
    app.conf.broker_url, app.conf.task_always_eager = own_redis.url, False
    broker._unreachable.clear()
    yield own_redis
    app.conf.broker_url, app.conf.task_always_eager = saved
    broker._unreachable.clear()
    broker_pools_closed(app)


def _connections_received(server) -> int:
    import redis

    client = redis.Redis(port=server.port, socket_timeout=2)
    try:
        return client.info("stats")["total_connections_received"]
    finally:
        client.close()


def _hand_over(batches: int) -> int:
    """Publish `batches` delivery messages of no ids (nobody reads this broker)."""
    from reminders.tasks import deliver_batch

    return broker.publish(deliver_batch, [[([],)] for _ in range(batches)], fallback="test")


def test_hand_overs_reuse_one_broker_connection(own_broker):
    assert _hand_over(2) == 2
    opened = _connections_received(own_broker)

    assert _hand_over(3) == 3
    assert _hand_over(1) == 1

    # Only the reading client above connected again: the hand-overs reused their connection.
    assert _connections_received(own_broker) == opened + 1
    assert own_broker.queued() == 6


def test_after_the_broker_restarts_the_next_hand_over_reaches_it(own_broker):
    assert _hand_over(1) == 1
    own_broker.restart()  # the pooled connection's socket is gone

    # The hand-over that meets the dead connection either reconnects or fails and drops it;
    # the one after reaches the new broker either way, and nothing is counted twice.
    first = _hand_over(1)
    second = _hand_over(1)

    assert second == 1
    assert own_broker.queued() == first + second


def test_the_message_shows_its_arguments_cut_to_the_limit():
    short = ([1, 2, 3],)
    assert broker._args_text(short) == repr(short)
    long = (list(range(1000)),)
    text = broker._args_text(long)
    assert len(text) == broker.ARGS_TEXT_LIMIT
    assert text.endswith("...") and text.startswith("([0, 1, 2")


def test_after_a_hung_hand_over_the_next_reaches_the_broker(own_broker):
    assert _hand_over(1) == 1
    own_broker.pause()  # stopped, not closed: the pooled connection's next reply never comes
    try:
        assert _hand_over(1) == 0  # within the broker timeout, left to the caller's fallback
    finally:
        own_broker.resume()

    assert _hand_over(1) == 1
    # What the paused broker read before the timeout may have landed; the hand-over after
    # it landed exactly once.
    assert own_broker.queued() in (2, 3)
