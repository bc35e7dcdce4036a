-- The runs list's on-call filters and sorts (issue 13), each served by an index so a page stays a few
-- milliseconds at a million runs.

-- Trigger filter, newest first.
CREATE INDEX workflow_runs_by_trigger ON workflow_runs (tenant, trigger, started_at DESC, run_id DESC);

-- Case-insensitive workflow-id prefix: a range scan on the lowered id (text_pattern_ops compares bytes,
-- so the range bounds mean "starts with" whatever the database collation).
CREATE INDEX workflow_runs_workflow_prefix
    ON workflow_runs (tenant, (lower(workflow_id)) text_pattern_ops, started_at DESC, run_id DESC);

-- Stuck only, newest first (the 0001 stuck index has no run_id, so its keyset pages would need a sort).
CREATE INDEX workflow_runs_stuck_latest ON workflow_runs (tenant, started_at DESC, run_id DESC)
    WHERE status = 'RUNNING' AND step_count = 0;

-- Sort by duration, longest first: open runs first (an open run has no end yet; the stand-in duration
-- keeps the key finite so a client can hand it back as a keyset), oldest of them first.
CREATE INDEX workflow_runs_by_duration
    ON workflow_runs (tenant, (coalesce(completed_at - started_at, interval '36500000 days')) DESC,
                      started_at, run_id);
