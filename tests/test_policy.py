"""The resource-policy evaluator against IAM's documented evaluation rules (IAM User Guide, "Policy evaluation
logic", "Condition operators", "Condition keys missing from the request context"), on literal policies."""

from __future__ import annotations

import pytest

from constructs_obs.testing.policy import Request, UnsupportedPolicyError, evaluate

TOPIC = "arn:aws:sns:us-east-2:111122223333:alerts"
ALARM = "arn:aws:cloudwatch:us-east-2:111122223333:alarm:app-cpu-high"

ALLOW_CLOUDWATCH = {
    "Sid": "CW",
    "Effect": "Allow",
    "Principal": {"Service": "cloudwatch.amazonaws.com"},
    "Action": "sns:Publish",
    "Resource": TOPIC,
    "Condition": {
        "StringEquals": {"aws:SourceAccount": "111122223333"},
        "ArnLike": {"aws:SourceArn": "arn:aws:cloudwatch:us-east-2:111122223333:alarm:app-*"},
    },
}
TLS_DENY = {
    "Sid": "TLS",
    "Effect": "Deny",
    "Principal": "*",
    "Action": "sns:Publish",
    "Resource": TOPIC,
    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
}


def _cloudwatch(**context: object) -> Request:
    base: dict[str, object] = {
        "aws:SourceAccount": "111122223333",
        "aws:SourceArn": ALARM,
        "aws:SecureTransport": True,
    }
    base.update(context)
    return Request(action="sns:Publish", resource=TOPIC, service="cloudwatch.amazonaws.com", context=base)  # type: ignore[arg-type]


def test_nothing_allowed_is_an_implicit_deny() -> None:
    decision = evaluate({"Statement": [TLS_DENY]}, _cloudwatch())
    assert not decision.allowed
    assert decision.reason == f"no statement allows sns:Publish for this principal on {TOPIC}"


def test_an_allow_that_matches_every_element_allows() -> None:
    decision = evaluate({"Statement": [TLS_DENY, ALLOW_CLOUDWATCH]}, _cloudwatch())
    assert decision.allowed
    assert decision.reason == "allowed by CW"


def test_an_applying_deny_wins_over_an_allow() -> None:
    decision = evaluate(
        {"Statement": [ALLOW_CLOUDWATCH, TLS_DENY]}, _cloudwatch(**{"aws:SecureTransport": False})
    )
    assert not decision.allowed
    assert decision.reason == "explicitly denied by TLS"


@pytest.mark.parametrize(
    ("context", "allowed"),
    [
        ({"aws:SourceArn": "arn:aws:cloudwatch:us-east-2:111122223333:alarm:other-cpu-high"}, False),
        ({"aws:SourceAccount": "444455556666"}, False),
        ({"aws:SourceArn": "arn:aws:cloudwatch:us-west-2:111122223333:alarm:app-cpu-high"}, False),
        ({"aws:sourcearn": ALARM}, True),  # condition key names are case-insensitive
    ],
)
def test_conditions(context: dict[str, object], allowed: bool) -> None:
    assert evaluate({"Statement": [ALLOW_CLOUDWATCH]}, _cloudwatch(**context)).allowed is allowed


def test_a_missing_key_fails_positive_operators_and_passes_negated_and_if_exists() -> None:
    request = Request(action="sns:Publish", resource=TOPIC, service="cloudwatch.amazonaws.com")
    assert not evaluate({"Statement": [ALLOW_CLOUDWATCH]}, request).allowed
    negated = {**ALLOW_CLOUDWATCH, "Condition": {"StringNotEquals": {"aws:SourceAccount": "444455556666"}}}
    assert evaluate({"Statement": [negated]}, request).allowed
    if_exists = {**ALLOW_CLOUDWATCH, "Condition": {"StringEqualsIfExists": {"aws:SourceAccount": "4"}}}
    assert evaluate({"Statement": [if_exists]}, request).allowed
    null = {**ALLOW_CLOUDWATCH, "Condition": {"Null": {"aws:SourceAccount": "true"}}}
    assert evaluate({"Statement": [null]}, request).allowed


def test_principal_action_and_resource_must_match() -> None:
    other_service = Request(action="sns:Publish", resource=TOPIC, service="events.amazonaws.com")
    assert not evaluate({"Statement": [{**ALLOW_CLOUDWATCH, "Condition": {}}]}, other_service).allowed
    wildcard_action = {**ALLOW_CLOUDWATCH, "Action": ["SNS:*"], "Condition": {}}
    assert evaluate({"Statement": [wildcard_action]}, _cloudwatch()).allowed  # actions are case-insensitive
    other_topic = {
        **ALLOW_CLOUDWATCH,
        "Resource": "arn:aws:sns:us-east-2:111122223333:other",
        "Condition": {},
    }
    assert not evaluate({"Statement": [other_topic]}, _cloudwatch()).allowed
    everyone = {**ALLOW_CLOUDWATCH, "Principal": {"AWS": "*"}, "Condition": {}}
    assert evaluate({"Statement": [everyone]}, _cloudwatch()).allowed


def test_a_kms_key_policy_with_a_service_statement() -> None:
    key = "arn:aws:kms:us-east-2:111122223333:key/1234"
    policy = {
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "cloudwatch.amazonaws.com"},
                "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
                "Resource": "*",
            }
        ]
    }
    for action in ("kms:Decrypt", "kms:GenerateDataKey"):
        assert evaluate(
            policy, Request(action=action, resource=key, service="cloudwatch.amazonaws.com")
        ).allowed
    assert not evaluate(
        policy, Request(action="kms:Encrypt", resource=key, service="cloudwatch.amazonaws.com")
    ).allowed


def test_what_it_cannot_decide_it_refuses() -> None:
    for statement in (
        {**ALLOW_CLOUDWATCH, "NotPrincipal": {"AWS": "x"}},
        {**ALLOW_CLOUDWATCH, "Condition": {"ForAnyValue:StringEquals": {"aws:SourceAccount": "1"}}},
        {**ALLOW_CLOUDWATCH, "Condition": {"DateGreaterThan": {"aws:CurrentTime": "2020-01-01"}}},
    ):
        with pytest.raises(UnsupportedPolicyError):
            evaluate({"Statement": [statement]}, _cloudwatch())
