"""Persistence: plain records that cross actor boundaries (`storage.records`), the `Repository`
protocol (`storage.repository`), its SQL implementation (`storage.sql`) and the in-memory fake
(`storage.memory`). Importing `storage` imports nothing else: the fake and the records never load
SQLAlchemy's ORM."""
