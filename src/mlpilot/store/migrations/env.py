"""Alembic environment: runs on the connection mlpilot hands it (see ``mlpilot.store.migrate``)."""

from alembic import context

from mlpilot.store._sql.tables import Base

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
