"""wastewater limits judged on the measured value: a corrected (reference-O2) basis on a water
outlet's limit becomes measured

Before this revision the registry import gave a limit without 判定依据 the corrected basis, and a
corrected-basis limit judges corrected values only, which a water outlet never has: such limits
judged nothing. A plain data migration; no schema change.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-08
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        "UPDATE outlet_limit SET basis = 'measured' WHERE basis = 'corrected' "
        "AND outlet_id IN (SELECT id FROM outlet WHERE medium = 'water')"
    )


def downgrade() -> None:
    # Nothing to undo: which rows were corrected before is not kept, and putting the corrected
    # basis back on a water outlet's limit would only make it judge nothing again.
    pass
