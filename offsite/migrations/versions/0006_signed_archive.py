"""archive records that hash their id; checkpoints with a signed Merkle root

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Adding columns rewrites no stored record: on PostgreSQL a constant default is kept in the
    # catalogue, and SQLite's ADD COLUMN leaves the rows as they are; old records stay version 1.
    op.add_column("raw_packet", sa.Column("version", sa.SmallInteger(), server_default="1", nullable=False))
    op.add_column("archive_checkpoint", sa.Column("first_seq", sa.BigInteger(), nullable=True))
    op.add_column("archive_checkpoint", sa.Column("merkle_root", sa.LargeBinary(length=32), nullable=True))
    op.add_column("archive_checkpoint", sa.Column("signature", sa.LargeBinary(length=64), nullable=True))
    op.add_column("archive_checkpoint", sa.Column("key_fingerprint", sa.String(length=16), nullable=True))


def downgrade() -> None:
    # plain DROP COLUMN (SQLite 3.35+ too): a batch copy would lose the archive's append-only triggers
    for column in ("key_fingerprint", "signature", "merkle_root", "first_seq"):
        op.execute(f"ALTER TABLE archive_checkpoint DROP COLUMN {column}")
    op.execute("ALTER TABLE raw_packet DROP COLUMN version")
