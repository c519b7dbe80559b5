FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
RUN useradd --create-home --uid 10001 whodid
WORKDIR /srv/whodid
COPY pyproject.toml README.md ./
COPY app ./app
COPY db ./db
RUN pip install --no-cache-dir -e . && chown -R whodid /srv/whodid
USER whodid
ENV WHODID_DATA_DIR=/home/whodid/data
EXPOSE 8000
HEALTHCHECK CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz')"
CMD ["whodid", "serve", "--host", "0.0.0.0", "--port", "8000"]
