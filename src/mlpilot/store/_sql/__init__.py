"""SQLAlchemy implementation of the metadata store (SQLite or PostgreSQL by URL)."""
