-- The run screen: why an event did not satisfy a wait, which event did, and the runs replayed from a run.

-- The event that resolved an event wait, and the latest delivery that did not match (event id, reason, when).
ALTER TABLE workflow_run_waits ADD COLUMN IF NOT EXISTS matched_event_id text;
ALTER TABLE workflow_run_waits ADD COLUMN IF NOT EXISTS non_match jsonb;

-- "Replays" of a run: runs whose trigger metadata names it as replayOfRunId, newest first.
CREATE INDEX IF NOT EXISTS workflow_runs_replay_of
    ON workflow_runs (tenant, (trigger_metadata ->> 'replayOfRunId'), started_at DESC)
    WHERE trigger_metadata ? 'replayOfRunId';
