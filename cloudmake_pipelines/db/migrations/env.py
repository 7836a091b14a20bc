"""Alembic environment: runs on the connection the runner hands over (see ``cloudmake_pipelines.db.migrate``)."""

from alembic import context

from cloudmake_pipelines.db.tables import metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    transaction_per_migration=True,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
    on_version_apply=context.config.attributes.get("on_version_apply"),
)
with context.begin_transaction():
    context.run_migrations()
