-- Run Studio read-model (SPEC §3). Every table carries a tenant; every hot read has an index.

CREATE TABLE workflow_definitions (
    tenant          text        NOT NULL,
    workflow_id     text        NOT NULL,
    latest_version  integer     NOT NULL CHECK (latest_version >= 1),
    name            text        NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant, workflow_id)
);

CREATE TABLE workflow_definition_versions (
    tenant              text        NOT NULL,
    workflow_id         text        NOT NULL,
    version             integer     NOT NULL CHECK (version >= 1),
    definition          jsonb       NOT NULL,
    definition_hash     text        NOT NULL CHECK (definition_hash ~ '^[0-9a-f]{64}$'),
    trigger_type        text        NOT NULL CHECK (trigger_type IN ('manual', 'event', 'schedule')),
    trigger_event_name  text,
    published_at        timestamptz NOT NULL DEFAULT now(),
    published_by        text,
    PRIMARY KEY (tenant, workflow_id, version),
    FOREIGN KEY (tenant, workflow_id) REFERENCES workflow_definitions (tenant, workflow_id),
    CHECK ((trigger_type = 'event') = (trigger_event_name IS NOT NULL))
);

-- Event ingress starts runs of the definitions triggered by an event name.
CREATE INDEX workflow_definition_versions_event_trigger
    ON workflow_definition_versions (tenant, trigger_event_name, workflow_id, version DESC)
    WHERE trigger_type = 'event';

-- Versions are immutable: a published definition is what its runs were pinned to.
CREATE FUNCTION workflow_definition_versions_immutable() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'workflow definition versions are immutable; publish a new version instead'
        USING ERRCODE = 'restrict_violation';
END;
$$;

CREATE TRIGGER workflow_definition_versions_no_update
    BEFORE UPDATE OR DELETE ON workflow_definition_versions
    FOR EACH ROW EXECUTE FUNCTION workflow_definition_versions_immutable();

CREATE TABLE workflow_runs (
    tenant                     text        NOT NULL,
    run_id                     uuid        NOT NULL,
    workflow_id                text        NOT NULL,
    workflow_version           integer     NOT NULL,
    status                     text        NOT NULL
        CHECK (status IN ('RUNNING', 'WAITING', 'SUCCEEDED', 'FAILED', 'CANCELED')),
    -- 'db' and NULL exist only in historical rows; every new run is 'temporal'.
    engine                     text        DEFAULT 'temporal' CHECK (engine IN ('temporal', 'db')),
    temporal_workflow_id       text,
    temporal_run_id            text,
    definition_hash            text,
    runtime_semantics_version  integer     NOT NULL DEFAULT 1,
    parent_run_id              uuid,
    root_run_id                uuid,
    input_json                 jsonb       NOT NULL DEFAULT '{}'::jsonb,
    vars_json                  jsonb       NOT NULL DEFAULT '{}'::jsonb,
    output_json                jsonb,
    error_json                 jsonb,
    current_step_path          text,
    trigger                    text        NOT NULL
        CHECK (trigger IN ('manual', 'event', 'replay', 'child', 'schedule')),
    trigger_metadata           jsonb       NOT NULL DEFAULT '{}'::jsonb,
    created_at                 timestamptz NOT NULL DEFAULT now(),
    started_at                 timestamptz NOT NULL DEFAULT now(),
    updated_at                 timestamptz NOT NULL DEFAULT now(),
    completed_at               timestamptz,
    step_count                 integer     NOT NULL DEFAULT 0 CHECK (step_count >= 0),
    PRIMARY KEY (tenant, run_id),
    CHECK ((status IN ('SUCCEEDED', 'FAILED', 'CANCELED')) = (completed_at IS NOT NULL))
);

-- Latest runs per tenant, all statuses and per status, by keyset (started_at, run_id).
CREATE INDEX workflow_runs_latest ON workflow_runs (tenant, started_at DESC, run_id DESC);
CREATE INDEX workflow_runs_by_status ON workflow_runs (tenant, status, started_at DESC, run_id DESC);
CREATE INDEX workflow_runs_by_workflow ON workflow_runs (tenant, workflow_id, started_at DESC, run_id DESC);
-- Search by run-id prefix.
CREATE INDEX workflow_runs_id_prefix ON workflow_runs (tenant, (run_id::text) text_pattern_ops);
-- Stuck runs: RUNNING with no step yet.
CREATE INDEX workflow_runs_stuck ON workflow_runs (tenant, started_at)
    WHERE status = 'RUNNING' AND step_count = 0;
-- The reconciler scans open runs.
CREATE INDEX workflow_runs_open ON workflow_runs (tenant, updated_at)
    WHERE status IN ('RUNNING', 'WAITING');
CREATE INDEX workflow_runs_children ON workflow_runs (tenant, parent_run_id)
    WHERE parent_run_id IS NOT NULL;

-- One row per step attempt. seq numbers step executions within a run (stable across retries of the
-- same execution), so a replayed projection upserts the same row instead of adding one.
CREATE TABLE workflow_run_steps (
    tenant        text        NOT NULL,
    run_id        uuid        NOT NULL,
    seq           integer     NOT NULL,
    attempt       integer     NOT NULL DEFAULT 1 CHECK (attempt >= 1),
    path          text        NOT NULL,
    step_id       text        NOT NULL,
    step_type     text        NOT NULL,
    iteration     text,
    status        text        NOT NULL CHECK (status IN ('STARTED', 'SUCCEEDED', 'FAILED', 'CANCELED')),
    started_at    timestamptz NOT NULL,
    completed_at  timestamptz,
    duration_ms   integer,
    error_json    jsonb,
    PRIMARY KEY (tenant, run_id, seq, attempt),
    FOREIGN KEY (tenant, run_id) REFERENCES workflow_runs (tenant, run_id) ON DELETE CASCADE
);

CREATE TABLE workflow_run_waits (
    tenant           text        NOT NULL,
    run_id           uuid        NOT NULL,
    seq              integer     NOT NULL,
    step_path        text        NOT NULL,
    wait_type        text        NOT NULL CHECK (wait_type IN ('time', 'event', 'human')),
    event_name       text,
    correlation_key  text,
    filters          jsonb,
    timeout_at       timestamptz,
    status           text        NOT NULL CHECK (status IN ('WAITING', 'RESOLVED', 'TIMED_OUT', 'CANCELED')),
    payload          jsonb,
    created_at       timestamptz NOT NULL DEFAULT now(),
    resolved_at      timestamptz,
    PRIMARY KEY (tenant, run_id, seq),
    FOREIGN KEY (tenant, run_id) REFERENCES workflow_runs (tenant, run_id) ON DELETE CASCADE
);

-- Candidate waits for an incoming event.
CREATE INDEX workflow_run_waits_candidates
    ON workflow_run_waits (tenant, event_name, correlation_key, status);
CREATE INDEX workflow_run_waits_open ON workflow_run_waits (tenant, created_at DESC)
    WHERE status = 'WAITING';

-- The ledger that makes actions effectively once per idempotency key.
CREATE TABLE workflow_action_invocations (
    id               bigserial   PRIMARY KEY,
    tenant           text        NOT NULL,
    idempotency_key  text        NOT NULL,
    run_id           uuid        NOT NULL,
    seq              integer     NOT NULL,
    step_path        text        NOT NULL,
    action           text        NOT NULL,
    action_version   integer     NOT NULL,
    attempt          integer     NOT NULL DEFAULT 1,
    status           text        NOT NULL CHECK (status IN ('STARTED', 'SUCCEEDED', 'FAILED')),
    input_json       jsonb       NOT NULL DEFAULT '{}'::jsonb,
    output_json      jsonb,
    error_json       jsonb,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    completed_at     timestamptz,
    UNIQUE (tenant, idempotency_key)
);
CREATE INDEX workflow_action_invocations_by_run ON workflow_action_invocations (tenant, run_id, id);

CREATE TABLE workflow_runtime_events (
    tenant            text        NOT NULL,
    event_id          text        NOT NULL,
    event_name        text        NOT NULL,
    payload           jsonb       NOT NULL DEFAULT '{}'::jsonb,
    correlation_key   text,
    source            text        NOT NULL DEFAULT 'api' CHECK (source IN ('api', 'inbox')),
    outcome           text        NOT NULL DEFAULT 'pending'
        CHECK (outcome IN ('pending', 'routed', 'unresolved_correlation', 'error')),
    matched_run_ids   uuid[]      NOT NULL DEFAULT '{}',
    started_run_ids   uuid[]      NOT NULL DEFAULT '{}',
    signaled_run_ids  uuid[]      NOT NULL DEFAULT '{}',
    error             text,
    received_at       timestamptz NOT NULL DEFAULT now(),
    routed_at         timestamptz,
    PRIMARY KEY (tenant, event_id)
);
CREATE INDEX workflow_runtime_events_latest ON workflow_runtime_events (tenant, received_at DESC);
-- A run's events pane: events that started or signaled it.
CREATE INDEX workflow_runtime_events_started ON workflow_runtime_events USING gin (started_run_ids);
CREATE INDEX workflow_runtime_events_signaled ON workflow_runtime_events USING gin (signaled_run_ids);

CREATE TABLE workflow_event_correlation_rules (
    tenant      text        NOT NULL,
    event_name  text        NOT NULL,
    expression  text        NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant, event_name)
);

-- Events enqueued by other systems with a plain INSERT; the worker ingests them.
CREATE TABLE workflow_event_inbox (
    id               bigserial   PRIMARY KEY,
    tenant           text        NOT NULL,
    event_id         text        NOT NULL,
    event_name       text        NOT NULL,
    payload          jsonb       NOT NULL DEFAULT '{}'::jsonb,
    correlation_key  text,
    enqueued_at      timestamptz NOT NULL DEFAULT now(),
    processed_at     timestamptz,
    attempts         integer     NOT NULL DEFAULT 0,
    last_error       text
);
CREATE INDEX workflow_event_inbox_pending ON workflow_event_inbox (id) WHERE processed_at IS NULL;

CREATE FUNCTION workflow_event_inbox_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('workflow_event_inbox', NEW.tenant);
    RETURN NEW;
END;
$$;

CREATE TRIGGER workflow_event_inbox_insert
    AFTER INSERT ON workflow_event_inbox
    FOR EACH ROW EXECUTE FUNCTION workflow_event_inbox_notify();

CREATE TABLE workflow_tasks (
    tenant        text        NOT NULL,
    task_id       uuid        NOT NULL,
    run_id        uuid        NOT NULL,
    seq           integer     NOT NULL,
    step_path     text        NOT NULL,
    task_type     text        NOT NULL,
    title         text        NOT NULL,
    description   text,
    form_schema   jsonb       NOT NULL DEFAULT '{}'::jsonb,
    context_data  jsonb       NOT NULL DEFAULT '{}'::jsonb,
    status        text        NOT NULL CHECK (status IN ('OPEN', 'COMPLETED', 'CANCELED', 'TIMED_OUT')),
    response      jsonb,
    completed_by  text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    timeout_at    timestamptz,
    completed_at  timestamptz,
    PRIMARY KEY (tenant, task_id),
    UNIQUE (tenant, run_id, seq),
    FOREIGN KEY (tenant, run_id) REFERENCES workflow_runs (tenant, run_id) ON DELETE CASCADE
);
CREATE INDEX workflow_tasks_open ON workflow_tasks (tenant, created_at DESC) WHERE status = 'OPEN';

CREATE TABLE workflow_run_audit (
    id          bigserial   PRIMARY KEY,
    tenant      text        NOT NULL,
    run_id      uuid        NOT NULL,
    action      text        NOT NULL,
    actor       text        NOT NULL,
    source      text,
    details     jsonb       NOT NULL DEFAULT '{}'::jsonb,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX workflow_run_audit_by_run ON workflow_run_audit (tenant, run_id, created_at);

-- Log lines written by core.log on a run.
CREATE TABLE workflow_run_logs (
    id          bigserial   PRIMARY KEY,
    tenant      text        NOT NULL,
    run_id      uuid        NOT NULL,
    step_path   text        NOT NULL,
    level       text        NOT NULL CHECK (level IN ('debug', 'info', 'warning', 'error')),
    message     text        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX workflow_run_logs_by_run ON workflow_run_logs (tenant, run_id, id);

-- Rows written by notify.outbox for other systems to deliver.
CREATE TABLE workflow_notify_outbox (
    id               bigserial   PRIMARY KEY,
    tenant           text        NOT NULL,
    run_id           uuid        NOT NULL,
    step_path        text        NOT NULL,
    idempotency_key  text,
    topic            text        NOT NULL,
    payload          jsonb       NOT NULL DEFAULT '{}'::jsonb,
    created_at       timestamptz NOT NULL DEFAULT now(),
    delivered_at     timestamptz
);
CREATE UNIQUE INDEX workflow_notify_outbox_idempotency
    ON workflow_notify_outbox (tenant, idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE INDEX workflow_notify_outbox_undelivered ON workflow_notify_outbox (tenant, id)
    WHERE delivered_at IS NULL;

-- Kept only so runs from before the Temporal-only cutover can still be read.
CREATE TABLE workflow_run_snapshots (
    tenant      text        NOT NULL,
    run_id      uuid        NOT NULL,
    taken_at    timestamptz NOT NULL DEFAULT now(),
    snapshot    jsonb       NOT NULL,
    PRIMARY KEY (tenant, run_id, taken_at)
);
