"""The SQLAlchemy repository: engine, tables, one module per entity."""
