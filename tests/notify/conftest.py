from __future__ import annotations

import pytest
from sqlalchemy.orm import Session, sessionmaker

from offsite.db import make_engine, session_factory


@pytest.fixture
def sessions(database_url: str) -> sessionmaker[Session]:
    return session_factory(make_engine(database_url))
