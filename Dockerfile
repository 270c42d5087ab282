FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /srv/reme

# Install dependencies first so code changes do not invalidate this layer.
COPY pyproject.toml README.md ./
COPY app/__init__.py app/__init__.py
RUN pip install --upgrade pip && pip install -e .

COPY . .
RUN pip install -e . && useradd --system --home /srv/reme reme && chown -R reme /srv/reme
USER reme

EXPOSE 8002
# Migrations run on start (REME_MIGRATE_ON_START, default true); `reme db upgrade` does it by hand.
CMD ["reme", "serve", "--host", "0.0.0.0", "--port", "8002"]
