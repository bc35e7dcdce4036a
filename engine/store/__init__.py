"""asyncpg repositories, one module per aggregate, every query tenant-scoped and parameterised."""
