"""The worker process: Temporal worker on the one task queue, event-inbox consumer and reconciler."""
