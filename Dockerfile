FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app

COPY pyproject.toml README.md ./
COPY backoffice ./backoffice
COPY clients ./clients
COPY installments ./installments
COPY reminders ./reminders
RUN pip install .
COPY . .
RUN SECRET_KEY=build-only python manage.py collectstatic --no-input

RUN useradd --system --home /app backoffice && chown -R backoffice /app
USER backoffice
EXPOSE 8000
# The web app by default; the compose file runs the same image as Celery worker and beat.
CMD ["gunicorn", "backoffice.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3", "--access-logfile", "-"]
