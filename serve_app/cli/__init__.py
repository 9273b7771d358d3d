"""The `raychat` command: serve, migrate, user, demo data."""
