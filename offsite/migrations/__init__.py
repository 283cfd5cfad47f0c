"""The Alembic environment (``env.py``) and the migrations; loaded by Alembic, never imported.

Run them with ``offsite db upgrade`` (``offsite.db.schema.upgrade``).
"""
