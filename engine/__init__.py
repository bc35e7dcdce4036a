"""Run Studio's shared core: definitions, expressions, interpreter, Temporal wiring, store and services.

Nothing in this package imports Textual, the studio or the worker process.
"""
