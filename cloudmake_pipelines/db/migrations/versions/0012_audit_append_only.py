"""Audit log append-only and tenants sealed (issue 15 item 6), PostgreSQL only.

Re-applies :func:`cloudmake_pipelines.adminbench.rls.protect` (the admin role no longer inserts platform-level
audit rows; the owner reads and appends platform rows but cannot change them; the tenant setting is
read through its seal) and adds :func:`~cloudmake_pipelines.adminbench.rls.harden` (no UPDATE, DELETE or
TRUNCATE of audit rows and no tenant change of a user or session, for any role, break glass aside).
SQLite has no roles, policies or statement triggers: there the guarantee does not exist.

Revision ID: 0012_audit_append_only
Revises: 0010_admin_rls
Create Date: 2026-12-02
"""

from alembic import op

from cloudmake_pipelines.adminbench import rls

revision = "0012_audit_append_only"
down_revision = "0010_admin_rls"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        rls.protect(op.get_bind())
        rls.harden(op.get_bind())


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        rls.soften(op.get_bind())
