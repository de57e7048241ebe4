"""App-wide name and metric series collisions fail synth (constructs_obs/checks/_registry.py).

Each case builds a small app from plain aws-cdk-lib constructs that claim what they create, synthesizes it and
checks the whole error text CDK raises. The expected messages are written out.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import aws_cdk as cdk
import pytest
from aws_cdk import assertions
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from constructs import Construct

from constructs_obs.checks._registry import claim_name, claim_series

ACCOUNT = "123456789012"
OTHER_ACCOUNT = "210987654321"
HEADER = "ValidationFailedWithErrors: Validation failed with the following errors:"


class NamedLogGroup(Construct):
    """A log group with a physical name, claimed."""

    def __init__(self, scope: Construct, construct_id: str, *, name: str, hint: str | None = None) -> None:
        super().__init__(scope, construct_id)
        group = logs.LogGroup(self, "Group", log_group_name=name, removal_policy=cdk.RemovalPolicy.RETAIN)
        claim_name(group, kind="log group", name=name, hint=hint)
        self.group = group


class NamedRole(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, name: str) -> None:
        super().__init__(scope, construct_id)
        role = iam.Role(self, "Role", role_name=name, assumed_by=iam.ServicePrincipal("ec2.amazonaws.com"))
        claim_name(role, kind="IAM role", name=name, level="account")


class NamedDashboard(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, name: str) -> None:
        super().__init__(scope, construct_id)
        dashboard = cloudwatch.Dashboard(self, "Dashboard", dashboard_name=name)
        claim_name(dashboard, kind="dashboard", name=name, level="account")


class CrashFilter(Construct):
    """A log group and a metric filter on it, whose series is claimed."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        namespace: str,
        metric_name: str = "ContainerCrashes",
        dimensions: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        group = logs.LogGroup(self, "Events")
        metric_filter = logs.MetricFilter(
            self,
            "Filter",
            log_group=group,
            filter_pattern=logs.FilterPattern.literal("die"),
            metric_namespace=namespace,
            metric_name=metric_name,
            dimensions=dict(dimensions) if dimensions else None,
        )
        claim_series(metric_filter, namespace=namespace, metric_name=metric_name, dimensions=dimensions)


def env(account: str | None = ACCOUNT, region: str | None = "eu-west-1") -> cdk.Environment:
    return cdk.Environment(account=account, region=region)


def synth_errors(app: cdk.App) -> list[str]:
    """The validation messages ``app.synth()`` raises (asserting the header), or ``[]`` if it succeeds."""
    try:
        app.synth()
    except RuntimeError as error:
        header, *lines = str(error).split("\n")
        assert header == HEADER
        return lines
    return []


# --- physical names ------------------------------------------------------------------------------------------


def test_same_log_group_name_in_two_stacks_of_one_account_and_region_fails() -> None:
    app = cdk.App()
    NamedLogGroup(cdk.Stack(app, "Prod", env=env()), "Logs", name="/shop/api")
    NamedLogGroup(cdk.Stack(app, "Staging", env=env()), "Logs", name="/shop/api")
    with pytest.raises(RuntimeError) as raised:
        app.synth()
    assert str(raised.value) == (
        "ValidationFailedWithErrors: Validation failed with the following errors:\n"
        "  [] log group name '/shop/api' is created twice in aws://123456789012/eu-west-1: "
        "by Prod/Logs/Group and by Staging/Logs/Group; give each stack its own prefix"
    )


def test_same_log_group_name_in_two_regions_passes() -> None:
    app = cdk.App()
    NamedLogGroup(cdk.Stack(app, "Prod", env=env(region="eu-west-1")), "Logs", name="/shop/api")
    NamedLogGroup(cdk.Stack(app, "Dr", env=env(region="us-east-1")), "Logs", name="/shop/api")
    assert synth_errors(app) == []


def test_same_log_group_name_in_two_accounts_passes() -> None:
    app = cdk.App()
    NamedLogGroup(cdk.Stack(app, "Prod", env=env(ACCOUNT)), "Logs", name="/shop/api")
    NamedLogGroup(cdk.Stack(app, "Staging", env=env(OTHER_ACCOUNT)), "Logs", name="/shop/api")
    assert synth_errors(app) == []


def test_stack_without_account_in_the_same_region_counts_as_the_same_account() -> None:
    app = cdk.App()
    NamedLogGroup(cdk.Stack(app, "Prod", env=env()), "Logs", name="/shop/api")
    NamedLogGroup(cdk.Stack(app, "Dev", env=env(account=None)), "Logs", name="/shop/api")
    assert synth_errors(app) == [
        "  [] log group name '/shop/api' may be created twice in aws://123456789012/eu-west-1: "
        "by Prod/Logs/Group and by Dev/Logs/Group (its stack has no account, so it may deploy there); "
        "give each stack its own prefix"
    ]


def test_stack_without_account_in_another_region_passes() -> None:
    app = cdk.App()
    NamedLogGroup(cdk.Stack(app, "Prod", env=env()), "Logs", name="/shop/api")
    NamedLogGroup(cdk.Stack(app, "Dev", env=env(account=None, region="us-east-1")), "Logs", name="/shop/api")
    assert synth_errors(app) == []


def test_stack_without_region_counts_as_any_region() -> None:
    app = cdk.App()
    NamedLogGroup(cdk.Stack(app, "Prod", env=env()), "Logs", name="/shop/api")
    NamedLogGroup(cdk.Stack(app, "Any", env=env(region=None)), "Logs", name="/shop/api")
    assert synth_errors(app) == [
        "  [] log group name '/shop/api' may be created twice in aws://123456789012/eu-west-1: "
        "by Prod/Logs/Group and by Any/Logs/Group (its stack has no region, so it may deploy there); "
        "give each stack its own prefix"
    ]


def test_role_names_collide_across_regions_of_one_account_ignoring_case() -> None:
    app = cdk.App()
    NamedRole(cdk.Stack(app, "Prod", env=env(region="eu-west-1")), "Host", name="shop-host")
    NamedRole(cdk.Stack(app, "Dr", env=env(region="us-east-1")), "Host", name="Shop-Host")
    assert synth_errors(app) == [
        "  [] IAM role name 'shop-host' is created twice in account 123456789012 (IAM role names are per "
        "account, not per region; IAM role names ignore case): by Prod/Host/Role in eu-west-1 and by "
        "Dr/Host/Role as 'Shop-Host' in us-east-1; give each stack its own role_name, or leave role_name "
        "unset so CloudFormation generates one"
    ]


def test_role_names_in_two_accounts_pass() -> None:
    app = cdk.App()
    NamedRole(cdk.Stack(app, "Prod", env=env(ACCOUNT)), "Host", name="shop-host")
    NamedRole(cdk.Stack(app, "Staging", env=env(OTHER_ACCOUNT)), "Host", name="shop-host")
    assert synth_errors(app) == []


def test_dashboard_names_collide_across_regions_of_one_account() -> None:
    app = cdk.App()
    NamedDashboard(cdk.Stack(app, "Prod", env=env(region="eu-west-1")), "Board", name="shop")
    NamedDashboard(cdk.Stack(app, "Dr", env=env(region="us-east-1")), "Board", name="shop")
    assert synth_errors(app) == [
        "  [] dashboard name 'shop' is created twice in account 123456789012 (dashboard names are per account, "
        "not per region): by Prod/Board/Dashboard in eu-west-1 and by Dr/Board/Dashboard in us-east-1; "
        "give each stack its own dashboard_name"
    ]


def test_dashboard_names_are_case_sensitive() -> None:
    app = cdk.App()
    NamedDashboard(cdk.Stack(app, "Prod", env=env()), "Board", name="shop")
    NamedDashboard(cdk.Stack(app, "Staging", env=env()), "Board", name="Shop")
    assert synth_errors(app) == []


def test_same_name_for_different_kinds_passes() -> None:
    app = cdk.App()
    stack = cdk.Stack(app, "Prod", env=env())
    claim_name(Construct(stack, "Alarm"), kind="alarm", name="shop")
    claim_name(Construct(stack, "Query"), kind="saved query", name="shop")
    assert synth_errors(app) == []


def test_saved_query_name_repeated_in_one_stack_fails() -> None:
    app = cdk.App()
    stack = cdk.Stack(app, "Prod", env=env())
    for construct_id in ("First", "Second"):
        logs.QueryDefinition(
            stack,
            construct_id,
            query_definition_name="shop/errors",
            query_string=logs.QueryString(filter_statements=["@message like /ERROR/"]),
        )
        claim_name(stack.node.find_child(construct_id), kind="saved query", name="shop/errors")
    assert synth_errors(app) == [
        "  [] saved query name 'shop/errors' is created twice in aws://123456789012/eu-west-1: by Prod/First "
        "and by Prod/Second; give each stack its own saved query name_prefix (the queries' folder)"
    ]


def test_same_construct_claiming_twice_passes() -> None:
    app = cdk.App()
    group = NamedLogGroup(cdk.Stack(app, "Prod", env=env()), "Logs", name="/shop/api")
    claim_name(group.group, kind="log group", name="/shop/api")
    assert synth_errors(app) == []


def test_unresolved_names_are_skipped() -> None:
    app = cdk.App()
    names = []
    for stack_id in ("Prod", "Staging"):
        stack = cdk.Stack(app, stack_id, env=env())
        name = f"{cdk.Aws.STACK_NAME}-errors"  # one token string, which resolves to each stack's name
        names.append(name)
        claim_name(Construct(stack, "Alarm"), kind="alarm", name=name)
    assert names[0] == names[1]
    assert synth_errors(app) == []


def test_three_repeats_make_one_error_each_after_the_first() -> None:
    app = cdk.App()
    for stack_id in ("A", "B", "C"):
        NamedLogGroup(cdk.Stack(app, stack_id, env=env()), "Logs", name="/shop/api")
    assert synth_errors(app) == [
        "  [] log group name '/shop/api' is created twice in aws://123456789012/eu-west-1: by A/Logs/Group "
        "and by B/Logs/Group; give each stack its own prefix",
        "  [] log group name '/shop/api' is created twice in aws://123456789012/eu-west-1: by A/Logs/Group "
        "and by C/Logs/Group; give each stack its own prefix",
    ]


def test_caller_hint_replaces_the_default() -> None:
    app = cdk.App()
    NamedLogGroup(cdk.Stack(app, "Prod", env=env()), "Logs", name="/x", hint="pass events_log_group_name")
    NamedLogGroup(cdk.Stack(app, "Staging", env=env()), "Logs", name="/x", hint="pass events_log_group_name")
    assert synth_errors(app) == [
        "  [] log group name '/x' is created twice in aws://123456789012/eu-west-1: by Prod/Logs/Group and "
        "by Staging/Logs/Group; pass events_log_group_name"
    ]


def test_unknown_kind_gets_the_generic_hint() -> None:
    app = cdk.App()
    for stack_id in ("Prod", "Staging"):
        claim_name(Construct(cdk.Stack(app, stack_id, env=env()), "Topic"), kind="SNS topic", name="alerts")
    assert synth_errors(app) == [
        "  [] SNS topic name 'alerts' is created twice in aws://123456789012/eu-west-1: by Prod/Topic and by "
        "Staging/Topic; give each its own name"
    ]


# --- metric series -------------------------------------------------------------------------------------------


def test_same_series_from_two_filters_fails() -> None:
    app = cdk.App()
    CrashFilter(cdk.Stack(app, "Prod", env=env()), "Crashes", namespace="ObservedHost")
    CrashFilter(cdk.Stack(app, "Staging", env=env()), "Crashes", namespace="ObservedHost")
    assert synth_errors(app) == [
        "  [] metric series 'ContainerCrashes' in namespace 'ObservedHost' (no dimensions) is published by "
        "two metric filters in aws://123456789012/eu-west-1: Prod/Crashes/Filter and Staging/Crashes/Filter, "
        "so an alarm on it counts the log lines of both (a staging crash pages prod); give each host its own "
        "metrics_namespace"
    ]


def test_series_in_own_namespaces_pass() -> None:
    app = cdk.App()
    CrashFilter(cdk.Stack(app, "Prod", env=env()), "Crashes", namespace="Shop/Prod")
    CrashFilter(cdk.Stack(app, "Staging", env=env()), "Crashes", namespace="Shop/Staging")
    assert synth_errors(app) == []


def test_series_in_two_regions_pass() -> None:
    app = cdk.App()
    CrashFilter(cdk.Stack(app, "Prod", env=env(region="eu-west-1")), "Crashes", namespace="ObservedHost")
    CrashFilter(cdk.Stack(app, "Dr", env=env(region="us-east-1")), "Crashes", namespace="ObservedHost")
    assert synth_errors(app) == []


def test_series_with_other_dimension_names_pass() -> None:
    app = cdk.App()
    stack = cdk.Stack(app, "Prod", env=env())
    CrashFilter(stack, "ByContainer", namespace="Shop", dimensions={"container": "$.name"})
    CrashFilter(stack, "Total", namespace="Shop")
    assert synth_errors(app) == []


def test_field_dimension_values_can_take_any_value() -> None:
    # Two different fields can both hold "api": the series container=api gets both filters' counts.
    app = cdk.App()
    stack = cdk.Stack(app, "Prod", env=env())
    CrashFilter(stack, "A", namespace="Shop", dimensions={"container": "$.name"})
    CrashFilter(stack, "B", namespace="Shop", dimensions={"container": "$service"})
    assert synth_errors(app) == [
        "  [] metric series 'ContainerCrashes' in namespace 'Shop' (container=$.name) is published by two "
        "metric filters in aws://123456789012/eu-west-1: Prod/A/Filter and Prod/B/Filter, so an alarm on it "
        "counts the log lines of both (a staging crash pages prod); give each host its own metrics_namespace"
    ]


def test_different_literal_dimension_values_pass() -> None:
    app = cdk.App()
    stack = cdk.Stack(app, "Prod", env=env())
    claim_series(Construct(stack, "A"), namespace="Shop", metric_name="Errors", dimensions={"host": "a"})
    claim_series(Construct(stack, "B"), namespace="Shop", metric_name="Errors", dimensions={"host": "b"})
    assert synth_errors(app) == []


# --- where the registry lives and when the check runs ---------------------------------------------------------


def test_stacks_in_a_stage_share_the_app_registry() -> None:
    app = cdk.App()
    NamedLogGroup(cdk.Stack(app, "Prod", env=env()), "Logs", name="/shop/api")
    stage = cdk.Stage(app, "Staging", env=env())
    staging = cdk.Stack(stage, "Shop")
    NamedLogGroup(staging, "Logs", name="/shop/api")
    assert staging.node.root is app
    assert synth_errors(app) == [
        "  [] log group name '/shop/api' is created twice in aws://123456789012/eu-west-1: by Prod/Logs/Group "
        "and by Staging/Shop/Logs/Group; give each stack its own prefix"
    ]


def test_template_from_stack_in_the_app_runs_the_check() -> None:
    app = cdk.App()
    prod = cdk.Stack(app, "Prod", env=env())
    NamedLogGroup(prod, "Logs", name="/shop/api")
    NamedLogGroup(cdk.Stack(app, "Staging", env=env()), "Logs", name="/shop/api")
    with pytest.raises(RuntimeError, match=re.escape("by Prod/Logs/Group and by Staging/Logs/Group")):
        assertions.Template.from_stack(prod)


def test_template_from_stack_inside_a_stage_checks_that_stage_only() -> None:
    # Template.from_stack synthesizes only the stack's Stage: repeats with stacks outside it are the app's check.
    app = cdk.App()
    NamedLogGroup(cdk.Stack(app, "Prod", env=env()), "Logs", name="/shop/api")
    staging = cdk.Stack(cdk.Stage(app, "Staging", env=env()), "Shop")
    NamedLogGroup(staging, "Logs", name="/shop/api")
    assertions.Template.from_stack(staging).resource_count_is("AWS::Logs::LogGroup", 1)
    assert len(synth_errors(app)) == 1


def test_stack_without_app_keeps_one_registry() -> None:
    # Stack() creates its App in JavaScript: each node.root is a new Python proxy of the same App.
    stack = cdk.Stack()
    assert stack.node.root is not stack.node.root
    NamedLogGroup(stack, "A", name="/shop/api")
    NamedLogGroup(stack, "B", name="/shop/api")
    NamedLogGroup(stack, "C", name="/shop/web")
    with pytest.raises(RuntimeError) as raised:
        assertions.Template.from_stack(stack)
    assert str(raised.value) == (
        "ValidationFailedWithErrors: Validation failed with the following errors:\n"
        "  [] log group name '/shop/api' is created twice in aws://unknown-account/unknown-region: "
        "by Default/A/Group and by Default/B/Group; give each stack its own prefix"
    )


def test_app_root_is_the_same_python_object_every_time() -> None:
    app = cdk.App()
    stack = cdk.Stack(app, "Prod")
    assert Construct(stack, "Deep").node.root is app
    assert stack.node.root is app


# --- bad arguments -------------------------------------------------------------------------------------------


def test_account_wide_kind_claimed_per_region_is_refused() -> None:
    stack = cdk.Stack(cdk.App(), "Prod", env=env())
    with pytest.raises(
        ValueError,
        match=re.escape(
            "dashboard names are unique per account: claim them with level='account', got 'region'"
        ),
    ):
        claim_name(stack, kind="dashboard", name="shop")


def test_unknown_level_is_refused() -> None:
    stack = cdk.Stack(cdk.App(), "Prod", env=env())
    with pytest.raises(ValueError, match=re.escape("level must be 'region' or 'account', got 'global'")):
        claim_name(stack, kind="SNS topic", name="alerts", level="global")  # type: ignore[arg-type]


def test_non_string_dimension_is_refused() -> None:
    stack = cdk.Stack(cdk.App(), "Prod", env=env())
    with pytest.raises(
        TypeError, match=re.escape("dimensions must map names to strings, got 'host': 3 in {'host': 3}")
    ):
        claim_series(stack, namespace="Shop", metric_name="Errors", dimensions={"host": 3})  # type: ignore[dict-item]


def test_template_from_stack_inside_a_stage_checks_the_stages_own_stacks() -> None:
    app = cdk.App()
    stage = cdk.Stage(app, "Prod", env=env())
    api = cdk.Stack(stage, "Api")
    NamedLogGroup(api, "Logs", name="/shop/api")
    NamedLogGroup(cdk.Stack(stage, "Worker"), "Logs", name="/shop/api")
    message = "by Prod/Api/Logs/Group and by Prod/Worker/Logs/Group"
    with pytest.raises(RuntimeError, match=re.escape(message)):
        assertions.Template.from_stack(api)
    # The whole app reports it once (the stage's own check), not once more from the root.
    errors = synth_errors(cdk_app_with_same_stage_repeat())
    assert len(errors) == 1 and message in errors[0]


def cdk_app_with_same_stage_repeat() -> cdk.App:
    app = cdk.App()
    stage = cdk.Stage(app, "Prod", env=env())
    NamedLogGroup(cdk.Stack(stage, "Api"), "Logs", name="/shop/api")
    NamedLogGroup(cdk.Stack(stage, "Worker"), "Logs", name="/shop/api")
    return app
