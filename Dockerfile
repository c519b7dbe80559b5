# Any image with Python >= 3.11 and venv: `docker build .` uses python:3.11-slim;
# without Docker Hub, a local Debian 12 image does (docs/operations.md, "Docker").
ARG BASE=python:3.11-slim
FROM ${BASE}

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PATH=/opt/whodid/bin:$PATH
RUN useradd --create-home --uid 10001 whodid
WORKDIR /srv/whodid
COPY pyproject.toml README.md ./
COPY app ./app
COPY db ./db
RUN python3 -m venv /opt/whodid && pip install --no-cache-dir -e . && chown -R whodid /srv/whodid
# The data folder: the embedded PostgreSQL (when DATABASE_URL is unset) keeps
# everything here. A volume, so that the data outlives the container:
#   docker run -v whodid-data:/home/whodid/data …
# Created and owned by whodid before VOLUME, so a new named volume is too.
ENV WHODID_DATA_DIR=/home/whodid/data
RUN mkdir -p "$WHODID_DATA_DIR" && chown whodid "$WHODID_DATA_DIR"
VOLUME /home/whodid/data
USER whodid
EXPOSE 8000
HEALTHCHECK CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz')"
# whodid runs as PID 1 (exec form, no shell): it handles SIGTERM itself,
# drains the writer, then stops the embedded PostgreSQL it started
# (pg_ctl stop -m fast) before it exits. Give it time: `docker stop -t 30`
# (compose.yaml: stop_grace_period) -- after the timeout Docker kills both,
# and PostgreSQL recovers from its WAL at the next start.
STOPSIGNAL SIGTERM
CMD ["whodid", "serve", "--host", "0.0.0.0", "--port", "8000"]
