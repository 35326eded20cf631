"""A feature whose query nobody declared: the test passes, and the guard (--chatschema-guard in
pytest.ini) fails the session because the statement scans the whole messages table."""

import psycopg
import sqlalchemy as sa


def test_search_finds_messages(chatschema_database):
    engine = sa.create_engine("postgresql+psycopg://", creator=lambda: psycopg.connect(chatschema_database.dsn))
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT id FROM messages WHERE content ILIKE :words "
                                    "ORDER BY created_at DESC LIMIT 20"), {"words": "%fox%"}).fetchall()
    engine.dispose()
    assert len(rows) <= 20
