-- A cancel Temporal accepted but no worker has applied yet is visible: who asked, and when.
-- The run stays RUNNING/WAITING until its workflow unwinds, so without these columns a pending cancel
-- looks exactly like a run nobody touched.
ALTER TABLE workflow_runs
    ADD COLUMN cancel_requested_at timestamptz,
    ADD COLUMN cancel_requested_by text;

-- The reconciler re-sends completions of human tasks whose wait is still open: it scans the open
-- human waits, which are few, through this index.
CREATE INDEX workflow_run_waits_open_human ON workflow_run_waits (tenant, run_id, seq)
    WHERE wait_type = 'human' AND status = 'WAITING';

-- A human decision is committed here before it is signaled to the run. When Temporal last accepted the
-- completion's signal: NULL means it has not (yet), and the reconciler keeps re-sending until it does.
ALTER TABLE workflow_tasks
    ADD COLUMN completion_signaled_at timestamptz;
