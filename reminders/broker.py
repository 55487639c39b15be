"""Publishing to the broker when it may be down: one connection, fail fast, and tell the
caller how far it got, so it can fall back (leave rows for the re-dispatch, run a scan
chunk here and now) for the rest."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

logger = logging.getLogger(__name__)


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

    Returns how many groups were published in full. When the broker cannot be reached (or
    goes away halfway) the rest is left to the caller's fallback, logged as `fallback`
    ("reminder(s) stay pending…", after the count of what is left, each message counted as
    `weight(args)`) instead of retrying for the default minutes.
    """
    done = 0
    try:
        with task.app.connection_for_write() as connection:
            connection.ensure_connection(max_retries=1)
            with connection.Producer() as producer:
                for group in groups:
                    for args in group:
                        task.apply_async(args, producer=producer)
                    if after_group is not None:
                        after_group(group)
                    done += 1
    except Exception as error:
        left = sum(weight(args) for group in groups[done:] for args in group)
        logger.warning("broker unavailable, %d %s: %s", left, fallback, error)
    return done
