"""The deploy rehearsal in LocalStack (tests/rehearsal.py, also ``make rehearse``), run by the suite and CI.

LocalStack is started and stopped by the test itself (loopback, a free port, its own PID). Where LocalStack does
not model what the lifecycle relies on, the assertion says so; the property itself is checked on the template
with its AWS source (tests/test_lifecycle.py, tests/test_recovery.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.realenv.localstack import localstack
from tests.rehearsal import PREFIX, Report, rehearse

pytestmark = [pytest.mark.realenv, pytest.mark.xdist_group("localstack")]


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Report]:
    with localstack() as ls:
        yield rehearse(ls, Path(tmp_path_factory.mktemp("rehearsal")))


def test_the_staging_stack_deploys_updates_and_deletes(report: Report) -> None:
    assert report.steps[0].startswith("create: CREATE_COMPLETE")
    assert any(s.startswith("update: UPDATE_COMPLETE") for s in report.steps)
    assert any(s.startswith("delete: DELETE_COMPLETE") for s in report.steps)


def test_real_metric_data_drives_each_alarm_to_a_message_naming_it(report: Report) -> None:
    assert report.alarm_messages == {f"{PREFIX}-status-check": "ALARM", f"{PREFIX}-container-crash": "ALARM"}


def test_the_recovery_rule_delivers_alarm_to_ok_only(report: Report) -> None:
    assert report.recovery_message.startswith(
        f"OK: alarm {PREFIX}-status-check recovered (ALARM -> OK) at 2019-10-02T17:04:40.989+0000 in us-east-2"
    )
    assert report.insufficient_data_recovery_messages == 0
    # LocalStack's CloudWatch sends no state-change event to EventBridge (the rule is fed the documented event).
    assert report.natural_recovery_messages == 0, (
        "LocalStack now sends alarm state-change events: rehearse the recovery from a real ALARM -> OK"
    )


def test_what_is_kept_and_the_way_back(report: Report) -> None:
    # LocalStack ignores DeletionPolicy (AWS keeps the RetainExceptOnCreate groups: tests/test_lifecycle.py).
    assert report.kept_after_delete == []
    # LocalStack accepts ImportExistingResources but adopts nothing: the change set adds the groups and the create
    # fails on the existing ones. AWS imports named resources with DeletionPolicy Retain or RetainExceptOnCreate
    # (CloudFormation User Guide, "Import AWS resources into a CloudFormation stack automatically").
    assert set(report.recreate_actions.values()) == {"Add"}
    assert report.recreated_with_import.startswith("ROLLBACK_COMPLETE")
