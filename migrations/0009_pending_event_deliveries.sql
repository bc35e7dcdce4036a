-- The worker's delivery loop claims queued events (events.CLAIM_PENDING_DELIVERIES) on every wake-up and
-- every 2 s poll; without this the claim scans every event ever received. Queued events are few and short-lived.
CREATE INDEX IF NOT EXISTS workflow_runtime_events_pending ON workflow_runtime_events (received_at)
    WHERE outcome = 'pending';
