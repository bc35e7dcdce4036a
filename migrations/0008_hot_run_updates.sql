-- Make the per-step update of a run row HOT-eligible (issue 16): every step rewrites step_count,
-- updated_at, current_step_path and vars_json, and Postgres can only update a row in place (no new
-- index entries, a fraction of the WAL) when no column any index uses — key, expression or
-- predicate — changed. Three indexes named a per-step column; none of them is needed as it was. The
-- queries are unchanged: the per-step column becomes a filter on the few open runs an index returns.

-- Stuck runs ("RUNNING with no step yet": runs.COUNT_STUCK and the runs list's stuck filter, whose pages
-- go newest first by (started_at, run_id)). workflow_runs_by_status (tenant, status, started_at DESC,
-- run_id DESC) already finds the RUNNING runs of a tenant older than the bound, in keyset order; open
-- runs are a small share of a table of mostly ended runs, so step_count = 0 is checked on those rows.
DROP INDEX IF EXISTS workflow_runs_stuck;
DROP INDEX IF EXISTS workflow_runs_stuck_latest;

-- The reconciler's open runs (reconcile.TENANTS_WITH_OPEN_RUNS, the one cross-tenant read, and
-- OPEN_RUNS): the open runs not touched for a while, oldest touch first. Indexing updated_at made every
-- step a non-HOT update; the open runs are few, so updated_at is filtered and sorted on those rows.
DROP INDEX IF EXISTS workflow_runs_open;
CREATE INDEX workflow_runs_open_by_start ON workflow_runs (tenant, started_at)
    WHERE status IN ('RUNNING', 'WAITING');

-- Leave a tenth of each page free, so the new version of a run row fits on its own page (a HOT update
-- needs that). Applies to pages written from now on.
ALTER TABLE workflow_runs SET (fillfactor = 90);
