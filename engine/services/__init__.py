"""Use cases called by the CLI, the worker and the studio: launch, cancel, replay, export, ingress, …"""
