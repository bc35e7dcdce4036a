-- Secrets at rest: workflow_runs.input_json holds a sealed envelope (AES-256-GCM, key id) written by the
-- application; what people may see of the input is its redacted copy, written at the same insert.
-- Existing plaintext rows are sealed by the Python step `runstudio migrate` runs after the SQL files
-- (engine/store/sealing.py): SQL cannot seal, it has no key.
ALTER TABLE workflow_runs ADD COLUMN IF NOT EXISTS input_redacted jsonb;

-- The ledger keeps a redacted output for people; when redaction changed it, the exact output an action
-- returned is kept sealed too, because a redelivered attempt hands the stored output back to the workflow
-- and a placeholder there would change what the run computes.
ALTER TABLE workflow_action_invocations ADD COLUMN IF NOT EXISTS output_sealed jsonb;
