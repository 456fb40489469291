# ChartVault web and worker image (docker-compose.yml runs both from it).
FROM python:3.11-slim

# tesseract + poppler for OCR; the eng and osd language data come as recommends of tesseract-ocr,
# which --no-install-recommends drops, so they are named. PostgreSQL 15 (docker-compose's db):
# psql for an operator's diagnostics; pg_dump, pg_receivewal and pg_basebackup for the backups;
# the server programs for a restore, which replays the WAL in a temporary server.
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        tesseract-ocr tesseract-ocr-eng tesseract-ocr-osd poppler-utils postgresql-15 fonts-dejavu-core \
    && rm -rf /var/lib/apt/lists/*

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    OMP_THREAD_LIMIT=1 \
    CHARTVAULT_DATA_DIR=/var/lib/chartvault

WORKDIR /app
# Editable, because templates/ and static/ are read from the source tree beside the packages.
COPY . /app
RUN pip install -e ".[server]"

RUN useradd --system --uid 10001 --home-dir /var/lib/chartvault --shell /usr/sbin/nologin chartvault \
    && mkdir -p /var/lib/chartvault \
    && chown chartvault:chartvault /var/lib/chartvault \
    && chmod 700 /var/lib/chartvault
USER chartvault

EXPOSE 8000
# Workers, bind address and every client limit: gunicorn.conf.py.
CMD ["gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"]
