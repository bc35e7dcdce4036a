-- The engine at its edges (issue 9).
-- 1. A human.task may omit contextData: the projection writes NULL, which the column must hold.
-- 2. core.log writes one line per (invocation, attempt, line) even when Temporal redelivers the attempt.
-- 3. notify.outbox recognises its own row on redelivery by the ledger invocation that wrote it.
-- Every statement is safe to run on a database with rows.

ALTER TABLE workflow_tasks ALTER COLUMN context_data DROP NOT NULL;

ALTER TABLE workflow_run_logs
    ADD COLUMN invocation_id  bigint,
    ADD COLUMN attempt        integer,
    ADD COLUMN line_no        integer;

-- Lines written outside the ledger (none today) keep NULLs and never conflict.
CREATE UNIQUE INDEX workflow_run_logs_once
    ON workflow_run_logs (tenant, invocation_id, attempt, line_no)
    WHERE invocation_id IS NOT NULL;

ALTER TABLE workflow_notify_outbox ADD COLUMN invocation_id bigint;
