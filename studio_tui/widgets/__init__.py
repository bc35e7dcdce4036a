"""Reusable widgets of the studio (one per file)."""
