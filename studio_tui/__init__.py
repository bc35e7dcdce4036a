"""The Textual studio. It talks only to ``engine.services``."""
