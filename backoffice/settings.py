"""Settings, all read from the environment (see .env.example).

The defaults are the embedded demo: SQLite next to manage.py, no broker (Celery tasks run
in-process). Production sets DATABASE_URL, CELERY_BROKER_URL, SECRET_KEY and ALLOWED_HOSTS.
"""

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=False)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "axes",
    "csp",
    "django_celery_beat",
    "health_check",
    "clients",
    "installments",
    "reminders",
    "structure",
    "investors",
    "dashboard",
    "operations",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    # Last: turns a locked-out sign-in into the lockout page (AXES_LOCKOUT_TEMPLATE).
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "backoffice.urls"
WSGI_APPLICATION = "backoffice.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "backoffice.context_processors.business",
            ],
        },
    },
]

# SQLite next to manage.py unless DATABASE_URL says otherwise: `manage.py` and `make demo`
# share one database.
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
EMBEDDED = DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3"

# Only DEBUG (`make demo`) runs with the development key. Anything else must be given a real
# one and refuses to start without it: a key everyone can read signs everyone's sessions.
DEVELOPMENT_KEY = "insecure-development-key-for-the-embedded-demo-only"
PLACEHOLDER_KEYS = {DEVELOPMENT_KEY, "change-me-to-a-long-random-string", "change-me"}
SECRET_KEY = env("SECRET_KEY", default="")
if not SECRET_KEY or SECRET_KEY in PLACEHOLDER_KEYS:
    if not DEBUG:
        raise ImproperlyConfigured(
            "Set SECRET_KEY to a long random string: it is required unless DEBUG=true "
            "(e.g. python -c 'import secrets; print(secrets.token_urlsafe(50))')."
        )
    SECRET_KEY = DEVELOPMENT_KEY
if EMBEDDED:
    # Every transaction takes the write lock when it begins (BEGIN IMMEDIATE) and waits up to
    # the busy timeout for it. SQLite's default, a deferred transaction that upgrades from
    # reading to writing, cannot wait: when two such transactions meet, one fails at once with
    # "database is locked" (twenty parallel payments posted six and answered 500 to the rest).
    # WAL lets readers carry on while one writer holds the lock.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "transaction_mode": "IMMEDIATE",
            "timeout": env.int("SQLITE_BUSY_TIMEOUT", default=20),
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    # PostgreSQL's JIT compiles any statement whose estimated cost is high, which the scan's
    # and the Structure's short statements reach on large tables: measured 0.2-0.4 s of
    # compiling for a few milliseconds of work. Off unless DB_JIT=true.
    options = DATABASES["default"].setdefault("OPTIONS", {})
    if not env.bool("DB_JIT", default=False):
        options["options"] = f"{options.get('options', '')} -c jit=off".strip()
    # Every network call has a timeout: a database that does not answer fails the connection
    # after this many seconds instead of hanging the request, the scan or the worker.
    options.setdefault("connect_timeout", env.int("DB_CONNECT_TIMEOUT", default=5))

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("hi", "हिन्दी")]
LOCALE_PATHS = [BASE_DIR / "locale"]
# Hindi money in Indian grouping (12,34,567.00); dates and month names from Django's locale.
FORMAT_MODULE_PATH = ["backoffice.formats"]
USE_I18N = True
USE_TZ = True
# Timestamps are stored in UTC; every business date ("today", due dates, the scan date) is a
# calendar date in BUSINESS_TIME_ZONE.
TIME_ZONE = env("BUSINESS_TIME_ZONE", default="Asia/Kolkata")
BUSINESS_TIME_ZONE = ZoneInfo(TIME_ZONE)
CURRENCY = env("CURRENCY", default="USD")
# The country a phone number without a +country code is read in (ISO 3166 code).
PHONE_REGION = env("PHONE_REGION", default="IN")

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# ---------------------------------------------------------------------------- sign-in

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "start"
LOGOUT_REDIRECT_URL = "login"

# Login throttling (django-axes) for every way in: the site's sign-in, the admin's and
# POST /api/auth/token/ all call authenticate() with the request, which the first backend
# checks. After LOGIN_FAILURE_LIMIT failures for one username from one address, that pair is
# refused for LOGIN_COOLOFF_MINUTES (a username alone would let anyone lock a participant
# out; an address alone would lock out a whole office behind one NAT).
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = dt.timedelta(minutes=env.int("LOGIN_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
# Its start-up banner printed before every management command's own output; failures and
# lock-outs are still logged.
AXES_VERBOSE = False
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
# Behind a proxy, set AXES_IPWARE_PROXY_COUNT so the client's address is the one counted.
AXES_IPWARE_PROXY_COUNT = env.int("AXES_IPWARE_PROXY_COUNT", default=0) or None

# API tokens expire this many hours after they were issued (0: never); a password change
# always ends them.
_TOKEN_TTL_HOURS = env.int("API_TOKEN_TTL_HOURS", default=24 * 30)
API_TOKEN_TTL = dt.timedelta(hours=_TOKEN_TTL_HOURS) if _TOKEN_TTL_HOURS > 0 else None

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "clients.tokens.ExpiringTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": env.int("API_PAGE_SIZE", default=20),
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "backoffice.lib.api.exception_handler",
    "COERCE_DECIMAL_TO_STRING": True,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Installment back office API",
    "DESCRIPTION": "Investors, packages, installment plans, payments and the share ledger.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "backoffice.lib.api.document_error_responses",
    ],
    # One name per choice set used in several places.
    "ENUM_NAME_OVERRIDES": {
        "ChannelEnum": "reminders.models.Channel",
        "PromotionKindEnum": "installments.models.PromotionKind",
        "KindEnum": "installments.models.CreditKind",
        "PlanStatusEnum": "installments.models.PlanStatus",
    },
}

# Celery. The embedded demo (SQLite, no CELERY_BROKER_URL) has no broker: tasks run
# in-process, eagerly, and email goes to the console. Otherwise (PostgreSQL) the broker is
# CELERY_BROKER_URL, by default the local Redis, with workers and one beat (see README).
# The test suite runs tasks eagerly (CELERY_TASK_ALWAYS_EAGER=true, set by `make test`);
# its integration tests start real workers on Redis.
_BROKER_URL = env("CELERY_BROKER_URL", default="")
CELERY_TASK_ALWAYS_EAGER = env.bool(
    "CELERY_TASK_ALWAYS_EAGER", default=EMBEDDED and not _BROKER_URL
)
CELERY_BROKER_URL = _BROKER_URL or (
    "memory://" if CELERY_TASK_ALWAYS_EAGER else "redis://127.0.0.1:6379/0"
)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TIMEZONE = TIME_ZONE
CELERY_TASK_ACKS_LATE = True
# One message at a time per worker process: a long chunk never sits on a queue of
# deliveries another worker could take, and a killed worker holds back little.
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Redis redelivers an unacknowledged message after this; longer than any task's time limit.
# Waiting rows never rely on it: the periodic re-dispatch hands them over again.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=3600),
    # A broker that stops answering (paused, a dead network path) must not hang the scan or
    # a worker: every connect and every reply waits at most this long.
    "socket_connect_timeout": env.float("CELERY_BROKER_TIMEOUT", default=3.0),
    "socket_timeout": env.float("CELERY_BROKER_TIMEOUT", default=3.0),
    "socket_keepalive": True,
}
CELERY_BROKER_CONNECTION_TIMEOUT = env.float("CELERY_BROKER_TIMEOUT", default=3.0)
# A publish that fails is retried a little, not for the default minutes; the outbox rows are
# the truth and the periodic re-dispatch hands over whatever a publish left behind.
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 2,
    "interval_start": 0,
    "interval_step": 0.5,
    "interval_max": 1,
}
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"

# Reminders (see reminders/ and the README's Reminders section).
EMAIL_BACKEND = env("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
EMAIL_FILE_PATH = env("EMAIL_FILE_PATH", default=str(BASE_DIR / "sent-email"))
EMAIL_HOST = env("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
EMAIL_HOST_USER = env("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="reminders@localhost")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
ADMINS = [("Admins", address) for address in env.list("ADMIN_EMAILS", default=[])]
SMS_BACKEND = env("SMS_BACKEND", default="reminders.channels.ConsoleBackend")
SMS_GATEWAY_URL = env("SMS_GATEWAY_URL", default="")
SMS_GATEWAY_TOKEN = env("SMS_GATEWAY_TOKEN", default="")
MESSENGER_BACKEND = env("MESSENGER_BACKEND", default="reminders.channels.ConsoleBackend")
MESSENGER_GATEWAY_URL = env("MESSENGER_GATEWAY_URL", default="")
MESSENGER_GATEWAY_TOKEN = env("MESSENGER_GATEWAY_TOKEN", default="")
REMINDER_GATEWAY_TIMEOUT = env.int("REMINDER_GATEWAY_TIMEOUT", default=10)
# Every SMTP connection (reminders and the admins' alerts) gives up after this many seconds.
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=REMINDER_GATEWAY_TIMEOUT)
# A send interrupted by a crash, on a channel without an idempotency key (email, the console
# backends): "uncertain" for an admin (at most once), unless its channel is listed here,
# then sent again (at least once). Gateways with an idempotency key retry with the same key.
REMINDER_AT_LEAST_ONCE_CHANNELS = env.list("REMINDER_AT_LEAST_ONCE_CHANNELS", default=[])
REMINDER_MESSAGE_ID_DOMAIN = env("REMINDER_MESSAGE_ID_DOMAIN", default="backoffice.local")
# Local hours (in the recipient's time zone) in which SMS and messenger wait for the morning.
# Email does not ring a phone, so it goes out at once unless listed. Empty: no quiet hours.
REMINDER_QUIET_HOURS = env("REMINDER_QUIET_HOURS", default="21:00-08:00")
REMINDER_QUIET_CHANNELS = env.list("REMINDER_QUIET_CHANNELS", default=["sms", "messenger"])
REMINDER_MAX_ATTEMPTS = env.int("REMINDER_MAX_ATTEMPTS", default=6)
REMINDER_RETRY_SECONDS = env.int("REMINDER_RETRY_SECONDS", default=60)
# A claimed ("sending") row whose worker died is taken over after this; above the delivery
# task's hard time limit (240 s), so a slow but living worker is never overtaken.
REMINDER_CLAIM_SECONDS = env.int("REMINDER_CLAIM_SECONDS", default=300)
# Pending rows handed to the broker this long ago and still not taken are handed over again.
REMINDER_REDISPATCH_AFTER_SECONDS = env.int("REMINDER_REDISPATCH_AFTER_SECONDS", default=900)
# Plans per scan chunk. A chunk has a fixed cost (reading it and the cadence, planning its
# statement, the notices' read of the week's cancellations, closing the run), so fewer,
# larger chunks scan faster; 2,000 still gives the full benchmark portfolio 33 chunks to
# spread over the workers (docs/performance.md, seventh round).
REMINDER_CHUNK_SIZE = env.int("REMINDER_CHUNK_SIZE", default=2000)
REMINDER_DELIVER_BATCH = env.int("REMINDER_DELIVER_BATCH", default=100)
# A scan chunk handed over or running is left alone this long; after it, still not done, its
# worker or the scan running it in-process died and the re-dispatch takes it. Above the
# chunk task's hard time limit (300 s).
REMINDER_CHUNK_LEASE_SECONDS = env.int("REMINDER_CHUNK_LEASE_SECONDS", default=330)
REMINDER_CATCH_UP_DAYS = env.int("REMINDER_CATCH_UP_DAYS", default=7)
REMINDER_DIGEST_NAMES = env.int("REMINDER_DIGEST_NAMES", default=10)
REMINDER_PAYMENT_INSTRUCTIONS = env(
    "REMINDER_PAYMENT_INSTRUCTIONS",
    default="Pay by bank transfer or at your participant's office, quoting the reference.",
)
REMINDER_SUPPORT_NAME = env("REMINDER_SUPPORT_NAME", default="the back office")
REMINDER_SUPPORT_PHONE = env("REMINDER_SUPPORT_PHONE", default="")
REMINDER_SUPPORT_EMAIL = env("REMINDER_SUPPORT_EMAIL", default=DEFAULT_FROM_EMAIL)
# Where links in messages point (the participant's Structure page in the digest).
SITE_URL = env("SITE_URL", default="http://127.0.0.1:8000")
# An invitation link (sent by email or SMS through the outbox) works once, for this long.
INVITATION_VALID_HOURS = env.int("INVITATION_VALID_HOURS", default=72)

# The Structure's row query is prepared once per PostgreSQL session (structure.rows). Turn it
# off behind a pooler that shares sessions between transactions (pgbouncer in transaction mode).
STRUCTURE_PREPARED_STATEMENTS = env.bool("STRUCTURE_PREPARED_STATEMENTS", default=True)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

# ---------------------------------------------------------------------------- HTTPS

# Outside DEBUG the site is served over TLS: plain HTTP is redirected, browsers are told to
# keep to HTTPS (HSTS) and cookies travel only over it. Each is configurable, for a site that
# is reached over plain HTTP on purpose (a private network); `check --deploy` names what is off.
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=True)
SESSION_COOKIE_SECURE = env.bool("SECURE_COOKIES", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("SECURE_COOKIES", default=not DEBUG)
# Behind a proxy that ends TLS and says so in X-Forwarded-Proto (and strips it from clients).
if env.bool("TLS_PROXY", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
X_FRAME_OPTIONS = "DENY"
# Container and load-balancer probes call /health/ over plain HTTP from inside.
SECURE_REDIRECT_EXEMPT = [r"^health/"]

# Content-Security-Policy (django-csp): scripts, styles, fonts and images from this site only,
# no inline script and no frames. The pages carry no inline script or handler (the language
# switch is static/js/site.js) and the API docs use the Swagger UI build whose script is a file.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        # Swagger UI and the admin set a few style attributes; no script runs from a style.
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

# The activity segments' edges (docs/rules.md, Activity segments).
ACTIVITY_RECENT_DAYS = env.int("ACTIVITY_RECENT_DAYS", default=90)
ACTIVITY_FEW_MAX = env.int("ACTIVITY_FEW_MAX", default=2)
ACTIVITY_VIP_MIN = env.int("ACTIVITY_VIP_MIN", default=10)
ACTIVITY_WINDOW_DAYS = env.int("ACTIVITY_WINDOW_DAYS", default=365)

# /health/ (operations/health.py): how old the last completed nightly scan may be, and how
# long the workers may take to answer a ping.
HEALTH_SCAN_MAX_AGE_HOURS = env.int("HEALTH_SCAN_MAX_AGE_HOURS", default=26)
HEALTH_WORKERS_TIMEOUT = env.float("HEALTH_WORKERS_TIMEOUT", default=2.0)
