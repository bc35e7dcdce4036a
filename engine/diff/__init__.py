"""Pure comparisons of two runs' redacted records: JSON values by path, step sequences by step path."""
