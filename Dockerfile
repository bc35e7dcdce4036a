# One image for the worker and the studio: `runstudio worker` (default), `runstudio tui`, or any command.
# Build stage: a virtualenv with the project installed; the final stage copies only that venv.
FROM python:3.11-slim AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 UV_NO_CACHE=1 UV_LINK_MODE=copy
RUN pip install uv==0.13.8 && uv venv /opt/runstudio
WORKDIR /src
# Dependencies first, from pyproject.toml alone, so editing the code does not reinstall them.
COPY pyproject.toml README.md ./
RUN uv pip install --compile-bytecode --python /opt/runstudio/bin/python -r pyproject.toml
COPY engine engine
COPY worker worker
COPY studio_tui studio_tui
COPY runstudio runstudio
COPY migrations migrations
COPY examples examples
RUN uv pip install --compile-bytecode --python /opt/runstudio/bin/python --no-deps .

FROM python:3.11-slim
# The base image ships the standard library without bytecode and the runtime user cannot write any, so
# compile it here: every start would otherwise compile asyncio, typing, json … again.
RUN python -m compileall -q /usr/local/lib/python3.11
# A fixed, unprivileged user; nothing in the image needs root at run time.
RUN groupadd --system --gid 10001 runstudio \
    && useradd --system --uid 10001 --gid runstudio --home-dir /home/runstudio --create-home runstudio
# The venv was made by uv, so it holds neither pip nor uv: the final image has no installer or compiler.
COPY --from=build /opt/runstudio /opt/runstudio
# The example definitions, so `runstudio publish examples/echo_chain.json` works as it does in a checkout.
COPY --chown=runstudio:runstudio examples /home/runstudio/examples
ENV PATH=/opt/runstudio/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    RUNSTUDIO_LOG_FORMAT=json \
    RUNSTUDIO_METRICS_PORT=9464
USER runstudio
WORKDIR /home/runstudio
# /metrics and /healthz (worker only; the healthcheck lives in docker-compose.yaml because the studio and
# one-shot commands run from this image too and serve nothing).
EXPOSE 9464
ENTRYPOINT ["runstudio"]
CMD ["worker"]
