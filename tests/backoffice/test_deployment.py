"""The deployment files stay consistent with the settings they feed."""

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def test_docker_compose_parses_and_every_service_has_a_health_check_or_runs_once():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"web", "worker", "beat", "db", "redis", "migrate"} <= set(services)
    for name, service in services.items():
        assert "healthcheck" in service or service.get("restart") == "no", name


def test_docker_compose_gives_the_app_its_database_broker_and_secret():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    environment = compose["services"]["web"]["environment"]
    assert environment["DATABASE_URL"].startswith("postgres://")
    assert environment["CELERY_BROKER_URL"].startswith("redis://")
    assert "SECRET_KEY" in environment


def test_env_example_documents_every_setting_read_from_the_environment():
    # Active lines and commented examples ("# DATABASE_URL=postgres://…") both document.
    documented = set(
        re.findall(r"^#?\s*([A-Z_]+)=", (ROOT / ".env.example").read_text(), re.MULTILINE)
    )
    settings_source = (ROOT / "backoffice" / "settings.py").read_text()
    for name in (
        "DATABASE_URL",
        "BUSINESS_TIME_ZONE",
        "CURRENCY",
        "SECRET_KEY",
        "DEBUG",
        "ALLOWED_HOSTS",
        "CELERY_BROKER_URL",
    ):
        assert name in documented, name
        assert f'"{name}"' in settings_source, name


def test_docker_compose_runs_celery_workers_and_one_beat_on_the_app_image_after_migrations():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    worker, beat = services["worker"], services["beat"]
    assert worker["command"][:4] == ["celery", "-A", "backoffice", "worker"]
    assert beat["command"][:4] == ["celery", "-A", "backoffice", "beat"]
    for service in (worker, beat):
        assert service["build"] == services["web"]["build"]
        assert service["environment"]["CELERY_BROKER_URL"].startswith("redis://")
        assert service["environment"]["DATABASE_URL"].startswith("postgres://")
        assert service["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert "replicas" not in beat.get("deploy", {}), "one beat, never scaled"
    assert {"postgres-data", "redis-data"} <= set(compose["volumes"])


def test_env_example_documents_the_reminder_and_channel_settings():
    documented = set(
        re.findall(r"^#?\s*([A-Z_]+)=", (ROOT / ".env.example").read_text(), re.MULTILINE)
    )
    settings_source = (ROOT / "backoffice" / "settings.py").read_text()
    read = set(re.findall(r'env(?:\.\w+)?\("([A-Z_]+)"', settings_source))
    assert read - documented == set()


def celery_settings(**environment) -> dict:
    """The Celery settings a fresh process reads from `environment` (and nothing else)."""
    import json
    import os
    import subprocess
    import sys

    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "CELERY_BROKER_URL", "CELERY_TASK_ALWAYS_EAGER"}
    }
    script = (
        "import json, django; from django.conf import settings; django.setup(); "
        "print(json.dumps([settings.CELERY_BROKER_URL, settings.CELERY_TASK_ALWAYS_EAGER]))"
    )
    output = subprocess.run(
        [sys.executable, "-c", script],
        env={**env, "DJANGO_SETTINGS_MODULE": "backoffice.settings", "SECRET_KEY": "x"}
        | environment,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    broker, eager = json.loads(output.strip().splitlines()[-1])
    return {"broker": broker, "eager": eager}


def test_the_embedded_demo_runs_tasks_in_process_without_a_broker():
    assert celery_settings() == {"broker": "memory://", "eager": True}


def test_with_postgresql_the_broker_defaults_to_the_local_redis():
    settings = celery_settings(DATABASE_URL="postgres://postgres@127.0.0.1:5432/unused")
    assert settings == {"broker": "redis://127.0.0.1:6379/0", "eager": False}


def test_a_configured_broker_is_used_even_with_sqlite():
    settings = celery_settings(CELERY_BROKER_URL="redis://queue:6379/2")
    assert settings == {"broker": "redis://queue:6379/2", "eager": False}


# ---------------------------------------------------------------------------- finding 5


def run_manage(*args: str, **environment: str):
    import os
    import subprocess
    import sys

    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"SECRET_KEY", "DEBUG", "DATABASE_URL", "SECURE_SSL_REDIRECT"}
    }
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        env={**env, "LOG_LEVEL": "ERROR"} | environment,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


PRODUCTION = {
    "SECRET_KEY": "k7Qm2vX9pL4tR8wZ1nB6yH3jF5dS0aG7cV2xE9uT4iO1pK8mN3bQ6zL5wR2yH9",
    "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/backoffice_unused",
    "ALLOWED_HOSTS": "backoffice.example.com",
    "DEBUG": "false",
}


def test_without_a_secret_key_and_without_debug_it_refuses_to_start_even_on_sqlite():
    result = run_manage("check", DEBUG="false")
    assert result.returncode != 0
    assert "Set SECRET_KEY" in result.stderr


def test_the_placeholder_secret_key_of_env_example_is_refused_too():
    result = run_manage("check", DEBUG="false", SECRET_KEY="change-me-to-a-long-random-string")
    assert result.returncode != 0
    assert "Set SECRET_KEY" in result.stderr


def test_the_demo_with_debug_runs_on_the_development_key():
    assert run_manage("check", DEBUG="true").returncode == 0


def test_check_deploy_is_clean_with_the_documented_production_variables():
    result = run_manage("check", "--deploy", "--fail-level", "WARNING", **PRODUCTION)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_check_deploy_names_https_switched_off():
    result = run_manage(
        "check", "--deploy", "--fail-level", "WARNING", **PRODUCTION, SECURE_SSL_REDIRECT="false"
    )
    assert result.returncode != 0
    assert "security.W008" in result.stdout + result.stderr


def test_outside_debug_plain_http_is_redirected_and_hsts_and_csp_are_sent(client, settings):
    settings.SECURE_SSL_REDIRECT = True
    response = client.get("/accounts/login/")
    assert response.status_code == 301
    assert response["Location"].startswith("https://")
    secure = client.get("/accounts/login/", secure=True)
    assert secure.status_code == 200
    assert secure["Strict-Transport-Security"].startswith("max-age=31536000")
    policy = secure["Content-Security-Policy"]
    assert "script-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy


def test_a_postgresql_connection_gives_up_after_the_connect_timeout():
    """Every network call has a timeout, the database's too (DB_CONNECT_TIMEOUT)."""
    read = "from django.conf import settings as s; print(s.DATABASES['default']['OPTIONS'])"
    result = run_manage("shell", "-c", read, **PRODUCTION, DB_CONNECT_TIMEOUT="7")
    assert result.returncode == 0, result.stderr
    assert "'connect_timeout': 7" in result.stdout


def test_the_web_containers_health_check_asks_health_web():
    from django.urls import resolve

    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    probe = " ".join(compose["services"]["web"]["healthcheck"]["test"])
    assert "http://127.0.0.1:8000/health/web/" in probe
    assert resolve("/health/web/").url_name == "health-web"
