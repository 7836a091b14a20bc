"""The one way a task is wired: a CloudMakeError escaping an asset becomes a dg.Failure with its message."""

import dagster as dg

from cloudmake_pipelines.assets.keys import jwks, jwt_signing_keys
from cloudmake_pipelines.resources import DatabaseResource, SettingsResource


def test_an_unmigrated_database_fails_the_step_with_what_to_do_not_a_traceback(sqlite_url):
    with dg.instance_for_test() as instance:
        result = dg.materialize([jwt_signing_keys, jwks], instance=instance, raise_on_error=False,
                                resources={"database": DatabaseResource(url=sqlite_url), "settings": SettingsResource()})
    assert not result.success
    error = result.get_step_failure_events()[0].event_specific_data.error
    assert error.cls_name == "Failure"  # a ConfigError would surface as itself, with our frames in its stack
    assert "the database has no secrets, master_key_versions, signing_keys tables" in error.message
    assert "cloudmake db upgrade" in error.message
