"""Publishing to the broker (`reminders.broker`): one pooled connection per process and
broker, a connection that failed closed and its place given back, a busy pool never taken for
a broker down. On this test's own Redis."""

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


def test_after_a_hung_hand_over_the_next_reconnects_and_reaches_the_broker(own_broker):
    assert _hand_over(1) == 1
    own_broker.pause()  # stopped, not closed: the pooled connection's next reply never comes
    try:
        assert _hand_over(1) == 0  # within the broker timeout, left to the caller's fallback
    finally:
        own_broker.resume()
    opened = _connections_received(own_broker)

    assert _hand_over(1) == 1
    # The connection that hung was closed: the hand-over connected afresh (besides the
    # reading client), and what the paused broker read before the timeout may have landed.
    assert _connections_received(own_broker) >= opened + 2
    assert own_broker.queued() in (2, 3)


@pytest.fixture
def one_connection_pool(own_broker):
    from backoffice.celery import app

    saved, app.conf.broker_pool_limit = app.conf.broker_pool_limit, 1
    yield broker._pool(app)
    app.conf.broker_pool_limit = saved


def test_failed_hand_overs_give_their_place_in_the_pool_back(one_connection_pool):
    from reminders.tasks import deliver_batch

    def refused(group):
        raise RuntimeError("the database refused to record the hand-over")

    for _ in range(3):
        assert broker.publish(deliver_batch, [[([],)]], fallback="test", after_group=refused) == 0

    # The pool's one place is free: nothing waits for a connection that was dropped.
    connection = one_connection_pool.acquire(block=False)
    connection.release()
    assert _hand_over(1) == 1


def test_a_busy_pool_is_not_taken_for_a_broker_down(one_connection_pool, own_broker):
    held = one_connection_pool.acquire(block=False)  # another thread's hand-over, say
    try:
        assert _hand_over(2) == 2  # on a connection of its own
    finally:
        held.release()

    assert broker._unreachable == {}
    assert _hand_over(1) == 1
    assert own_broker.queued() == 3


def test_a_message_shows_its_arguments_in_full_and_a_long_list_cut_to_the_limit(own_broker):
    import json

    import redis

    from reminders.tasks import deliver_batch

    assert broker.publish(deliver_batch, [[([1, 2, 3],), (list(range(1000)),)]], fallback="t")
    client = redis.Redis(port=own_broker.port, socket_timeout=2)
    shown = sorted(
        (json.loads(raw)["headers"]["argsrepr"] for raw in client.lrange("celery", 0, -1)),
        key=len,
    )
    assert shown[0] == repr(([1, 2, 3],))
    assert len(shown[1]) == broker.ARGS_TEXT_LIMIT
    assert shown[1].startswith("([0, 1, 2") and shown[1].endswith("...")
