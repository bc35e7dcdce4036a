# One image for the worker and the studio: `runstudio worker` (default) or `runstudio tui`.
# Build stage: a virtualenv with the project installed; the final stage copies only that venv.
FROM python:3.11-slim AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN python -m venv /opt/runstudio && /opt/runstudio/bin/pip install uv
WORKDIR /src
COPY pyproject.toml README.md ./
COPY engine engine
COPY worker worker
COPY studio_tui studio_tui
COPY runstudio runstudio
COPY migrations migrations
COPY examples examples
RUN /opt/runstudio/bin/uv pip install --python /opt/runstudio/bin/python --no-cache . \
    && /opt/runstudio/bin/pip uninstall -y uv

FROM python:3.11-slim
# A fixed, unprivileged user; nothing in the image needs root at run time.
RUN groupadd --system --gid 10001 runstudio \
    && useradd --system --uid 10001 --gid runstudio --home-dir /home/runstudio --create-home runstudio
COPY --from=build /opt/runstudio /opt/runstudio
ENV PATH=/opt/runstudio/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    RUNSTUDIO_LOG_FORMAT=json \
    RUNSTUDIO_METRICS_PORT=9464
USER runstudio
WORKDIR /home/runstudio
EXPOSE 9464
ENTRYPOINT ["runstudio"]
CMD ["worker"]
