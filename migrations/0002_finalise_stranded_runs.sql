-- Temporal-only cutover: runs that the retired in-process engine ('db', or NULL in the oldest rows)
-- left RUNNING or WAITING have nothing that will ever execute them. Finalise them as CANCELED with an
-- explanation, cancel their open waits and tasks, and forbid such a live row from ever existing again.
-- Terminal rows and Temporal runs are untouched. Every statement is safe to run twice.

UPDATE workflow_run_waits AS w
   SET status = 'CANCELED', resolved_at = now()
  FROM workflow_runs AS r
 WHERE w.tenant = r.tenant
   AND w.run_id = r.run_id
   AND w.status = 'WAITING'
   AND (r.engine IS NULL OR r.engine = 'db')
   AND r.status IN ('RUNNING', 'WAITING');

UPDATE workflow_tasks AS t
   SET status = 'CANCELED', completed_at = now()
  FROM workflow_runs AS r
 WHERE t.tenant = r.tenant
   AND t.run_id = r.run_id
   AND t.status = 'OPEN'
   AND (r.engine IS NULL OR r.engine = 'db')
   AND r.status IN ('RUNNING', 'WAITING');

UPDATE workflow_runs
   SET status = 'CANCELED',
       completed_at = now(),
       updated_at = now(),
       error_json = jsonb_build_object(
           'category', 'EngineCutover',
           'message', 'Finalised at the Temporal-only cutover: this run was left '
                      || status || ' by the retired in-process engine, which no longer executes runs. '
                      || 'Replay it to run it again on Temporal.',
           'previousStatus', status,
           'previousEngine', coalesce(engine, 'null'))
 WHERE (engine IS NULL OR engine = 'db')
   AND status IN ('RUNNING', 'WAITING');

ALTER TABLE workflow_runs DROP CONSTRAINT IF EXISTS workflow_runs_live_runs_are_temporal;
ALTER TABLE workflow_runs ADD CONSTRAINT workflow_runs_live_runs_are_temporal
    CHECK (engine IS NOT DISTINCT FROM 'temporal' OR status IN ('SUCCEEDED', 'FAILED', 'CANCELED'));
