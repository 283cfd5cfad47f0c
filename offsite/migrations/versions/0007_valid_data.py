"""reporting intervals and flow basis; limits with only a lower bound; marks scoped to a device or
factor, with kinds from a table and decision deadlines; alarms with their exceedance figures;
furnace-temperature breaches

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import offsite.db.base

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_FIGURES = ("outlet_id", "factor", "value", "limit")


def upgrade() -> None:
    op.add_column("device", sa.Column("minute_interval_s", sa.Integer(), nullable=True))
    op.add_column("device", sa.Column("flow_basis", sa.String(length=12), nullable=True))
    op.add_column("device", sa.Column("flow_unit", sa.String(length=8), nullable=True))
    op.add_column("computed_value", sa.Column("n_expected", sa.SmallInteger(), nullable=True))

    with op.batch_alter_table("outlet_limit", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_outlet_limit_value_positive"), type_="check")
        batch_op.alter_column("value", existing_type=sa.Float(), nullable=True)
        batch_op.create_check_constraint(
            "value_positive", "(value IS NULL OR value > 0) AND (value IS NOT NULL OR lower IS NOT NULL)"
        )

    with op.batch_alter_table("data_mark", schema=None) as batch_op:
        # kinds are a configurable table now (quality/markkinds), checked where a mark is filed
        batch_op.drop_constraint(op.f("ck_data_mark_kind_allowed"), type_="check")
        batch_op.alter_column("kind", existing_type=sa.String(length=12), type_=sa.String(length=16))
        batch_op.add_column(sa.Column("device_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("factor", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("decide_by", offsite.db.base.UtcDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("escalated_at", offsite.db.base.UtcDateTime(timezone=True), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_data_mark_device_id_device"), "device", ["device_id"], ["id"], ondelete="CASCADE"
        )

    for table in ("alarm", "alarm_event"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("outlet_id", sa.Integer(), nullable=True))
            batch_op.add_column(sa.Column("factor", sa.String(length=16), nullable=True))
            batch_op.add_column(sa.Column("value", sa.Float(), nullable=True))
            batch_op.add_column(sa.Column("limit", sa.Float(), nullable=True))
            batch_op.create_foreign_key(
                batch_op.f(f"fk_{table}_outlet_id_outlet"), "outlet", ["outlet_id"], ["id"], ondelete="SET NULL"
            )

    op.create_table(
        "furnace_breach",
        sa.Column("device_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("outlet_id", sa.Integer(), nullable=False),
        sa.Column("factor", sa.String(length=16), nullable=False),
        sa.Column("below", sa.Integer(), nullable=False),
        sa.Column("lowest", sa.Float(), nullable=False),
        sa.Column("marked", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["device_id"], ["device.id"], name=op.f("fk_furnace_breach_device_id_device"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["outlet_id"], ["outlet.id"], name=op.f("fk_furnace_breach_outlet_id_outlet"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("device_id", "day", name=op.f("pk_furnace_breach")),
    )
    with op.batch_alter_table("furnace_breach", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_furnace_breach_outlet_id"), ["outlet_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("furnace_breach", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_furnace_breach_outlet_id"))
    op.drop_table("furnace_breach")
    for table in ("alarm_event", "alarm"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_constraint(batch_op.f(f"fk_{table}_outlet_id_outlet"), type_="foreignkey")
            for column in reversed(_FIGURES):
                batch_op.drop_column(column)
    op.execute(
        "DELETE FROM data_mark WHERE kind NOT IN "
        "('stopped', 'startup', 'shutdown', 'fault', 'maintenance', 'calibration')"
    )
    with op.batch_alter_table("data_mark", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_data_mark_device_id_device"), type_="foreignkey")
        for column in ("escalated_at", "decide_by", "factor", "device_id"):
            batch_op.drop_column(column)
        batch_op.alter_column("kind", existing_type=sa.String(length=16), type_=sa.String(length=12))
        batch_op.create_check_constraint(
            "kind_allowed", "kind IN ('stopped', 'startup', 'shutdown', 'fault', 'maintenance', 'calibration')"
        )
    op.execute("DELETE FROM outlet_limit WHERE value IS NULL")
    with op.batch_alter_table("outlet_limit", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_outlet_limit_value_positive"), type_="check")
        batch_op.alter_column("value", existing_type=sa.Float(), nullable=False)
        batch_op.create_check_constraint("value_positive", "value > 0")
    op.drop_column("computed_value", "n_expected")
    for column in ("flow_unit", "flow_basis", "minute_interval_s"):
        op.drop_column("device", column)
