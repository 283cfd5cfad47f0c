"""header fields that no packet can overflow; where each archive chain keeps its spool

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import offsite.db.base

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_WIDENED = (("mn", 32), ("cn", 4), ("qn", 20))


def upgrade() -> None:
    # Widening a varchar rewrites nothing on PostgreSQL; SQLite never enforced the lengths, so
    # its table is left as it is (a batch migration there would copy the whole archive).
    if op.get_bind().dialect.name == "postgresql":
        for column, length in _WIDENED:
            op.alter_column("raw_packet", column, type_=sa.String(64), existing_type=sa.String(length))
    op.create_table(
        "archive_writer",
        sa.Column("writer", sa.String(length=64), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("spool_dir", sa.Text(), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("started_at", offsite.db.base.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("writer", name=op.f("pk_archive_writer")),
    )


def downgrade() -> None:
    op.drop_table("archive_writer")
    if op.get_bind().dialect.name == "postgresql":
        for column, length in _WIDENED:
            op.alter_column("raw_packet", column, type_=sa.String(length), existing_type=sa.String(64))
