"""The ``runstudio`` command line."""
