"""`/health/`: the database, the broker, the workers and the age of the last completed scan,
on django-health-check (its view renders HTML, or JSON on `Accept: application/json`, and
runs the checks concurrently, each within its timeout).

Without a broker (the demo, the tests: Celery runs tasks in-process) there is nothing to
ping: the broker and workers checks pass without probing, and their names say so. Version 4
of the library has no named subsets: each URL is a view with its own list (`WEB_CHECKS` for
the web container's own health check in docker-compose).
"""

from __future__ import annotations

import dataclasses
import datetime as dt

from asgiref.sync import sync_to_async
from django.conf import settings
from django.utils import timezone
from health_check.base import HealthCheck
from health_check.checks import Database
from health_check.contrib.celery import Ping
from health_check.contrib.redis import Redis
from health_check.exceptions import ServiceUnavailable
from health_check.views import HealthCheckView
from redis.asyncio import Redis as RedisClient

from .selectors import last_completed_scan


def _in_process() -> bool:
    from backoffice.celery import app

    return bool(app.conf.task_always_eager)


def _broker_client() -> RedisClient:
    from backoffice.celery import app

    seconds = settings.CELERY_BROKER_CONNECTION_TIMEOUT
    return RedisClient.from_url(
        app.conf.broker_url, socket_connect_timeout=seconds, socket_timeout=seconds
    )


@dataclasses.dataclass
class Broker(Redis):
    """The Celery broker (Redis) answers a ping within CELERY_BROKER_TIMEOUT."""

    client_factory: object = dataclasses.field(default=_broker_client, repr=False)

    def __post_init__(self) -> None:
        self.timeout = dt.timedelta(seconds=settings.CELERY_BROKER_CONNECTION_TIMEOUT)

    def __repr__(self) -> str:
        return "Broker(in-process)" if _in_process() else "Broker"

    async def run(self) -> None:
        if not _in_process():
            await super().run()


@dataclasses.dataclass
class Workers(Ping):
    """At least one Celery worker answers a ping within HEALTH_WORKERS_TIMEOUT."""

    def __post_init__(self) -> None:
        self.timeout = dt.timedelta(seconds=settings.HEALTH_WORKERS_TIMEOUT)

    def __repr__(self) -> str:
        return "Workers(in-process)" if _in_process() else "Workers"

    def run(self) -> None:
        if not _in_process():
            super().run()


@dataclasses.dataclass
class LastScan(HealthCheck):
    """The last nightly scan completed less than HEALTH_SCAN_MAX_AGE_HOURS ago."""

    def __repr__(self) -> str:
        return "LastScan"

    async def run(self) -> None:
        # In the request's own thread: the ORM's connection is per thread.
        finished = await sync_to_async(_last_scan_finished_at, thread_sensitive=True)()
        limit = dt.timedelta(hours=settings.HEALTH_SCAN_MAX_AGE_HOURS)
        if finished is None:
            raise ServiceUnavailable("No nightly scan has completed.")
        age = timezone.now() - finished
        if age > limit:
            hours = int(age.total_seconds() // 3600)
            raise ServiceUnavailable(
                f"The last completed scan finished {hours} hours ago "
                f"(more than HEALTH_SCAN_MAX_AGE_HOURS={settings.HEALTH_SCAN_MAX_AGE_HOURS})."
            )


def _last_scan_finished_at() -> dt.datetime | None:
    run = last_completed_scan()
    return run.finished_at if run is not None else None


ALL_CHECKS = (Database, Broker, Workers, LastScan)
# The web container is healthy when it can serve: a broker, a worker or a scan that is down
# is not cured by restarting it (the full /health/ reports those).
WEB_CHECKS = (Database,)


class HealthView(HealthCheckView):
    """The library's view, answering 503 Service Unavailable (not 500) when a check fails."""

    async def get(self, request, *args, **kwargs):
        response = await super().get(request, *args, **kwargs)
        if response.status_code == 500:
            response.status_code = 503
        return response
