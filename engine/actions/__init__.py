"""Action registry, built-in actions and plugin loading from the ``runstudio.actions`` entry points."""
