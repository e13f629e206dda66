# feedgate in one slim image: the gateway (`feedgate run`, the default command) and the venue
# simulators (`feedgate simulate`, used by docker-compose.yml's demo profile).
#   docker build -t feedgate:local .
#   docker run --rm -v $PWD/examples/feeds.toml:/etc/feedgate/feeds.toml:ro \
#     -e FEEDGATE_REDIS__URL=redis://HOST:6379/0 feedgate:local
# Only the runtime dependencies are installed (no demo/test extras): there is no embedded Redis
# in the image, so `redis.url` (or FEEDGATE_REDIS__URL) must name one.

FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim
# UID/GID 10001: what deploy/k8s/statefulset.yaml runs as
RUN groupadd --system --gid 10001 feedgate \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin feedgate
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-index --find-links=/wheels feedgate && rm -rf /wheels
# listen on the container's interface; worker i serves /metrics on 9464 + i, the supervisor on 9463
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    FEEDGATE_METRICS__HOST=0.0.0.0 \
    FEEDGATE_METRICS__PORT=9464
USER 10001:10001
EXPOSE 9463 9464 9465
# the supervisor's /healthz (metrics.port - 1) is 200 while every worker runs, else 503 (which
# urlopen raises on); python because the slim image has no curl
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD python -c "import os, urllib.request as u; u.urlopen('http://127.0.0.1:%d/healthz' % (int(os.environ.get('FEEDGATE_METRICS__PORT', '9464')) - 1), timeout=3)"
ENTRYPOINT ["feedgate"]
CMD ["run", "--config", "/etc/feedgate/feeds.toml"]
