"""Publishing to the broker when it may be down or hanging: one connection, fail fast, and
tell the caller how far it got, so it can fall back (leave rows for the re-dispatch, run a
scan chunk here and now) for the rest.

Every wait is bounded: the connect and each reply by the broker timeouts in settings
(CELERY_BROKER_TIMEOUT), and a publish is not retried. After a failure the broker is
taken as unreachable for `RECHECK_AFTER` seconds, so a scan that falls back to running its
chunks in-process does not wait once more for each chunk's hand-over of its rows.

The connection comes from a pool per process and broker (kombu's, at most
`broker_pool_limit` connections; with 0 or None, a connection per publish): a worker that
hands over one batch of reminders after each scan chunk or payment reuses its connection and
the queues it declared, instead of connecting and declaring again for every hand-over. A
connection that failed is closed and its place in the pool given back: the next publish
connects afresh. When every pooled connection is in use (threads publishing at once), the
publish takes a connection of its own rather than wait or report the broker down.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

from kombu.connection import ConnectionPool

logger = logging.getLogger(__name__)

RECHECK_AFTER = 30.0  # seconds during which a broker that just failed is not tried again
# The longest argument text a message carries for logs and monitoring (Celery's own limit).
ARGS_TEXT_LIMIT = 1024

# Broker URL → monotonic time until which it is taken as unreachable (per process).
_unreachable: dict[str, float] = {}
# (process id, broker URL to write to) → its connection pool: a forked worker opens its own.
_pools: dict[tuple[int, str], ConnectionPool] = {}
_pools_lock = threading.Lock()


def pools_closed() -> None:
    """Close this process's pooled broker connections and forget the pools (the next publish
    opens a pool on the broker the settings name then)."""
    with _pools_lock:
        mine = [key for key in _pools if key[0] == os.getpid()]
        for key in mine:
            _pools.pop(key).force_close_all()


def _pool(app) -> ConnectionPool:
    key = (os.getpid(), app.conf.broker_write_url)
    with _pools_lock:
        if key not in _pools:
            _pools[key] = app.connection_for_write().Pool(limit=app.conf.broker_pool_limit)
        return _pools[key]


@contextmanager
def _connection(app) -> Iterator:
    """A connection of the pool, given back at the end of the block (closed first when the
    block raised); a connection of its own when every pooled one is in use."""
    pool = _pool(app)
    try:
        pooled = pool.acquire(block=False)
    except pool.LimitExceeded:
        with app.connection_for_write() as connection:
            yield connection
        return
    with pooled:
        yield pooled


def publish(
    task,
    groups: Sequence[Sequence[tuple]],
    *,
    fallback: str,
    after_group: Callable[[Sequence[tuple]], None] | None = None,
    weight: Callable[[tuple], int] = lambda args: 1,
) -> int:
    """Publish each argument tuple of each group as one message of `task`, all over one
    broker connection; after each group, `after_group(group)` (e.g. record it handed over).

    Returns how many groups were published in full. When the broker cannot be reached, stops
    answering or goes away halfway, the rest is left to the caller's fallback, logged as
    `fallback` ("reminder(s) stay pending…", after the count of what is left, each message
    counted as `weight(args)`) instead of retrying for the default minutes.
    """
    url = task.app.conf.broker_url
    done = 0
    try:
        if _unreachable.get(url, 0.0) > time.monotonic():
            raise ConnectionError("it failed moments ago; not tried again yet")
        with _connection(task.app) as connection:
            connection.ensure_connection(max_retries=0)
            with connection.Producer() as producer:
                for group in groups:
                    for args in group:
                        task.apply_async(
                            args, producer=producer, retry=False, argsrepr=_args_text(args)
                        )
                    if after_group is not None:
                        after_group(group)
                    done += 1
        _unreachable.pop(url, None)
    except Exception as error:
        if done < len(groups):
            _unreachable[url] = time.monotonic() + RECHECK_AFTER
        left = sum(weight(args) for group in groups[done:] for args in group)
        logger.warning("broker unavailable, %d %s: %s", left, fallback, error)
    return done


def _args_text(args: tuple) -> str:
    """The arguments as the message shows them in logs and monitoring: `repr`, cut at
    `ARGS_TEXT_LIMIT` (Celery's default, a character-by-character safe repr, costs more than
    the rest of the publish for a batch of a hundred ids)."""
    text = repr(args)
    return text if len(text) <= ARGS_TEXT_LIMIT else text[: ARGS_TEXT_LIMIT - 3] + "..."
