"""pytest-alembic's built-in tests, the experimental ones included, pass on chatschema's chain with
pytest-alembic's documented fixtures (``alembic_config``, ``alembic_engine`` as an SQLAlchemy Engine),
run the way an application team runs them (README, "pytest-alembic on chatschema's chain"): an inner
suite under pytester on a new database of the test server. The twins show the same tests fail when
the models and the chain disagree, and when the bookkeeping list is not the one env.py filters with."""

from __future__ import annotations

import textwrap

import pytest

from psycopg.conninfo import conninfo_to_dict

from .test_alembic_cli import url_for

ALEMBIC_INI = "[alembic]\nscript_location = chatschema:migrations\n"

CONFTEST = textwrap.dedent('''
    import os

    import pytest
    import sqlalchemy as sa
    from pytest_alembic import Config


    @pytest.fixture
    def alembic_config():
        return Config(config_options={"script_location": "chatschema:migrations"})


    @pytest.fixture
    def alembic_engine():
        engine = sa.create_engine(os.environ["CHAT_DB_URL"], poolclass=sa.NullPool)
        yield engine
        engine.dispose()
''')

BUILT_IN = textwrap.dedent('''
    from pytest_alembic.tests import (
        test_model_definitions_match_ddl,
        test_single_head_revision,
        test_up_down_consistency,
        test_upgrade,
    )
    from pytest_alembic.tests.experimental import test_downgrade_leaves_no_trace
    from pytest_alembic.tests.experimental import test_all_models_register_on_metadata as _all_models


    # SQLModel's own modules refer to the metadata too, so the package is named (the test's documented argument).
    def test_all_models_register_on_metadata(alembic_runner):
        _all_models(alembic_runner, "chatschema.models")


    def test_all_models_register_on_metadata_offline(alembic_runner):
        _all_models(alembic_runner, "chatschema.models", offline=True)
''')

BUILT_IN_TESTS = ("test_model_definitions_match_ddl", "test_single_head_revision", "test_up_down_consistency",
                  "test_upgrade", "test_downgrade_leaves_no_trace", "test_all_models_register_on_metadata",
                  "test_all_models_register_on_metadata_offline")


def inner_suite(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, dsn: str, tests: str,
                conftest_extra: str = "") -> pytest.RunResult:
    pytester.makefile(".ini", alembic=ALEMBIC_INI)  # the experimental tests read ./alembic.ini
    pytester.makeconftest(CONFTEST + conftest_extra)
    pytester.makepyfile(test_chain=tests)
    params = conninfo_to_dict(dsn)
    if str(params.get("host", "")).startswith("/"):
        # pytest-alembic writes the URL into an ini, where a quoted socket path (%2F) is read as interpolation:
        # libpq takes the socket from PGHOST instead.
        monkeypatch.setenv("PGHOST", params["host"])
        monkeypatch.setenv("PGPORT", str(params.get("port") or 5432))
        monkeypatch.setenv("CHAT_DB_URL", f"postgresql+psycopg://{params.get('user') or ''}@/{params['dbname']}")
    else:
        monkeypatch.setenv("CHAT_DB_URL", url_for(dsn))
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:chatschema", "-q", "-rA")


def test_pytest_alembics_built_in_tests_pass_on_chatschemas_chain(pytester, monkeypatch, new_database):
    result = inner_suite(pytester, monkeypatch, new_database("pytest_alembic").dsn, BUILT_IN)
    result.assert_outcomes(passed=len(BUILT_IN_TESTS))
    for name in BUILT_IN_TESTS:
        assert f"PASSED test_chain.py::{name}" in result.stdout.str()


ONLY_MATCH = "from pytest_alembic.tests import test_model_definitions_match_ddl\n"


def test_a_model_change_without_a_revision_fails_the_ddl_match(pytester, monkeypatch, new_database):
    """The twin: a column in the models that no revision adds is what the built-in test catches."""
    extra = ('\nfrom chatschema.models import metadata\n'
             'metadata.tables["messages"].append_column(sa.Column("app_note", sa.Text()))\n')
    result = inner_suite(pytester, monkeypatch, new_database("pytest_alembic_model").dsn, ONLY_MATCH, extra)
    result.assert_outcomes(failed=1)
    assert "op.add_column('messages', sa.Column('app_note'" in result.stdout.str()


def test_a_second_bookkeeping_list_would_drop_the_checkpoint_table(pytester, monkeypatch, new_database):
    """The twin of the one list: env.py filtering with a list that lacks chatschema_backfill makes
    autogenerate want to drop it, which is what two lists did."""
    extra = ('\nimport chatschema.migrations.environment as environment\n'
             'environment.BOOKKEEPING_TABLES = ("chatschema_version",)\n')
    result = inner_suite(pytester, monkeypatch, new_database("pytest_alembic_list").dsn, ONLY_MATCH, extra)
    result.assert_outcomes(failed=1)
    assert "op.drop_table('chatschema_backfill')" in result.stdout.str()
