"""The in-memory repository (tests and the storage fake), mirroring `storage/sql`."""
