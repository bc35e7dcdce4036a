"""The pure, deterministic interpreter state machine: frames, scopes and effects; no I/O."""
