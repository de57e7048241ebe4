"""App-wide checks that the constructs' physical names and metric series do not collide.

The constructs claim what they create (``claim_name`` for physical names, ``claim_series`` for metric filter
series); nothing is asked of the user. The claims of one CDK app are kept with its root construct
(``scope.node.root``: the ``App``, also for stacks inside a ``Stage``, and the implicit ``App`` that
``Stack()`` without a scope creates). The first claim adds one validation to the root, and the first claim inside
a nested ``Stage`` one to that stage; at synth they compare the claims and return one error per repeat (a repeat
inside one stage is that stage's to report, every other the root's), which CDK raises as ``RuntimeError: ValidationFailedWithErrors:
Validation failed with the following errors:`` followed by one ``[] <message>`` line each (``[]`` is the
root's path, which is empty).

When the check runs: ``app.synth()`` (and so ``cdk synth``) and ``assertions.Template.from_stack(stack)`` for a
stack directly under the ``App`` (it synthesizes the ``App``). ``Template.from_stack`` of a stack inside a nested
``Stage`` synthesizes only that ``Stage``: its own validation compares the stage's claims, while repeats with
stacks outside the stage are found by ``app.synth()`` only. Claims
made after the app was synthesized are not checked (CDK returns the cached assembly).

Where names are unique (what a repeat collides with):

- log group, alarm, saved query names and metric series: one account in one region.
- IAM role names: one account, all regions; and IAM ignores case ("Names are not distinguished by case. For
  example, you cannot create resources named both "MyResource" and "myresource"", IAM API reference, CreateRole
  ``RoleName``), so role names are compared ignoring case.
- CloudWatch dashboard names: one account, all regions ("All dashboards in your account are global, not
  region-specific", CloudFormation ``AWS::CloudWatch::Dashboard``; the ARN has no region:
  ``arn:aws:cloudwatch::123456789012:dashboard/Dashboard-A`` in the AWS CLI's ``get-dashboard`` example).

Where a stack's account or region is a token (an environment-agnostic stack), it is unknown: an unknown account
may be any account, an unknown region any region, so such a stack collides with every stack it may deploy next
to.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import jsii
from aws_cdk import Stack, Stage, Token
from constructs import Construct, IConstruct, IValidation

Scope = Literal["region", "account"]
"""Where a physical name must be unique: one account in one region, or one account in every region."""

#: What to change when a name repeats, by kind; ``claim_name(hint=...)`` overrides it for one claim.
FIX_HINTS: Mapping[str, str] = {
    "log group": "give each stack its own prefix",
    "alarm": "give each stack its own alarm name_prefix",
    "saved query": "give each stack its own saved query name_prefix (the queries' folder)",
    "dashboard": "give each stack its own dashboard_name",
    "IAM role": "give each stack its own role_name, or leave role_name unset so CloudFormation generates one",
}
#: The hint for a kind missing from ``FIX_HINTS``.
DEFAULT_HINT = "give each its own name"
#: What to change when two metric filters publish one series.
SERIES_HINT = "give each host its own metrics_namespace"

#: Where the names of the kinds in ``FIX_HINTS`` are unique. Saved queries (``AWS::Logs::QueryDefinition``) are
#: not unique in CloudWatch at all: PutQueryDefinition without a ``queryDefinitionId`` creates a new definition
#: with a new id ("If you are creating a query definition, do not specify this parameter. CloudWatch generates a
#: unique ID for the new query definition", CloudWatch Logs API reference), so two stacks that save one name
#: both succeed and the console lists two queries of that name in one folder. That is two things under one name
#: (which one is current?), so a repeat in one account and region is an error here all the same.
KIND_SCOPES: Mapping[str, Scope] = {
    "log group": "region",
    "alarm": "region",
    "saved query": "region",
    "dashboard": "account",
    "IAM role": "account",
}
#: Kinds whose names the service compares ignoring case.
CASE_INSENSITIVE_KINDS: frozenset[str] = frozenset({"IAM role"})


def claim_name(
    scope: Construct, *, kind: str, name: str, level: Scope = "region", hint: str | None = None
) -> None:
    """Record that ``scope`` creates a resource of ``kind`` named ``name`` in ``Stack.of(scope)``'s environment.

    Synth fails if another construct (another path) of the same app claims the same name for the same kind where
    both may deploy to one account (``level="account"``) or one account and region (``level="region"``).

    Args:
        scope: the construct that creates the resource; its path is named in the error.
        kind: what the name names, e.g. ``"log group"``, ``"alarm"``, ``"saved query"``, ``"dashboard"``,
            ``"IAM role"`` (names of different kinds never collide).
        name: the physical name. A name holding an unresolved token is skipped (unknown until deploy).
        level: ``"region"`` (unique per account and region) or ``"account"`` (per account, all regions). The
            kinds in ``KIND_SCOPES`` must be claimed with their level.
        hint: what the error tells the user to change; default ``FIX_HINTS[kind]`` (or ``DEFAULT_HINT``).
    """
    if not isinstance(scope, Construct):
        raise TypeError(f"scope must be a Construct, got {_show(scope)}")
    if not isinstance(kind, str) or not kind:
        raise TypeError(f"kind must be a non-empty string such as 'log group', got {_show(kind)}")
    if not isinstance(name, str):
        raise TypeError(f"name must be a string, got {_show(name)}")
    if level not in ("region", "account"):
        raise ValueError(f"level must be 'region' or 'account', got {level!r}")
    expected = KIND_SCOPES.get(kind)
    if expected is not None and level != expected:
        raise ValueError(
            f"{kind} names are unique per {expected}: claim them with level={expected!r}, got {level!r}"
        )
    if hint is not None and not isinstance(hint, str):
        raise TypeError(f"hint must be a string or None, got {_show(hint)}")
    if Token.is_unresolved(name):
        return
    key = name.lower() if kind in CASE_INSENSITIVE_KINDS else name
    claim = _NameClaim(
        kind=kind,
        name=name,
        key=key,
        level=level,
        path=scope.node.path,
        env=_env_of(scope),
        hint=hint if hint is not None else FIX_HINTS.get(kind, DEFAULT_HINT),
    )
    _registry_of(scope).add_name(claim)


def claim_series(
    scope: Construct, *, namespace: str, metric_name: str, dimensions: Mapping[str, str] | None = None
) -> None:
    """Record that the metric filter ``scope`` publishes this series in ``Stack.of(scope)``'s environment.

    Synth fails if a metric filter at another path of the same app may publish the same series to the same
    account and region: an alarm on it would then count both filters' log lines (a staging crash pages prod).

    A series is the namespace, the metric name and the dimensions. Series with different dimension names are
    different. A dimension value that is a field of the log event (``$.level``, ``$container``, which is what
    metric filters publish) or an unresolved token can take any value, so it matches any value; literal values
    match when equal. A claim whose namespace, metric name or a dimension name is an unresolved token is
    skipped.
    """
    if not isinstance(scope, Construct):
        raise TypeError(f"scope must be a Construct, got {_show(scope)}")
    if not isinstance(namespace, str):
        raise TypeError(f"namespace must be a string, got {_show(namespace)}")
    if not isinstance(metric_name, str):
        raise TypeError(f"metric_name must be a string, got {_show(metric_name)}")
    dims = dict(dimensions or {})
    for dim_name, value in dims.items():
        if not isinstance(dim_name, str) or not isinstance(value, str):
            raise TypeError(
                f"dimensions must map names to strings, got {_show(dim_name)}: {_show(value)} in {dims!r}"
            )
    if any(Token.is_unresolved(text) for text in (namespace, metric_name, *dims)):
        return
    claim = _SeriesClaim(
        namespace=namespace,
        metric_name=metric_name,
        dimensions=tuple(sorted(dims.items())),
        path=scope.node.path,
        env=_env_of(scope),
    )
    _registry_of(scope).add_series(claim)


# --- the registry --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Env:
    """A stack (its path), its account and region (``None`` where a token: unknown until deploy), and the path of
    the nested ``Stage`` it is in (``""`` directly under the app)."""

    stack: str
    account: str | None
    region: str | None
    stage: str = ""


@dataclass(frozen=True)
class _NameClaim:
    kind: str
    name: str
    key: str
    level: Scope
    path: str
    env: _Env
    hint: str


@dataclass(frozen=True)
class _SeriesClaim:
    namespace: str
    metric_name: str
    dimensions: tuple[tuple[str, str], ...]
    path: str
    env: _Env


@dataclass
class _Registry:
    """All claims of one app, in the order they were made."""

    names: list[_NameClaim] = field(default_factory=list)
    series: list[_SeriesClaim] = field(default_factory=list)
    stages: set[str] = field(default_factory=set)

    def add_name(self, claim: _NameClaim) -> None:
        if claim not in self.names:
            self.names.append(claim)

    def add_series(self, claim: _SeriesClaim) -> None:
        if claim not in self.series:
            self.series.append(claim)

    def errors(self, stage: str | None = None) -> list[str]:
        """One message per claim that repeats an earlier claim of another construct.

        ``stage=None`` (the app's root): every repeat except those inside one nested ``Stage``, which that
        stage's own validation reports. ``stage=PATH``: the repeats of two claims in that nested stage.
        """

        def mine(first: _Env, second: _Env) -> bool:
            inside = first.stage == second.stage != ""
            return inside and first.stage == stage if stage is not None else not inside

        messages: list[str] = []
        for index, claim in enumerate(self.names):
            for earlier in self.names[:index]:
                if not mine(earlier.env, claim.env):
                    continue
                if earlier.path != claim.path and earlier.kind == claim.kind and earlier.key == claim.key:
                    level: Scope = "account" if "account" in (earlier.level, claim.level) else "region"
                    if _may_share(earlier.env, claim.env, level):
                        messages.append(_name_message(earlier, claim, level))
                        break
        for index, series in enumerate(self.series):
            for earlier_series in self.series[:index]:
                if (
                    mine(earlier_series.env, series.env)
                    and earlier_series.path != series.path
                    and _same_series(earlier_series, series)
                    and _may_share(earlier_series.env, series.env, "region")
                ):
                    messages.append(_series_message(earlier_series, series))
                    break
        return messages


@jsii.implements(IValidation)
class _NoCollisions:
    """The validation on an app's root (``stage=None``), and on each nested ``Stage`` that holds claims: fails
    synth for each repeated name or series. A stage's own validation is what runs when only that stage is
    synthesized (``Template.from_stack`` of a stack in it)."""

    def __init__(self, registry: _Registry, stage: str | None = None) -> None:
        self.registry = registry
        self.stage = stage

    def validate(self) -> list[str]:
        return self.registry.errors(self.stage)


#: Registries by the jsii reference of their app root (``aws-cdk-lib.App@10001``). Not keyed by the root object
#: and not stored as an attribute on it: a root created on the JavaScript side (the implicit ``App`` of
#: ``Stack()`` without a scope) comes back as a new Python proxy from every ``node.root``, with no attributes and
#: a different identity, while its reference stays the same. Entries are never removed, like the jsii runtime's
#: own objects (it can never tell whether JavaScript still holds them); each is a few claims.
_REGISTRIES: dict[str, _Registry] = {}


def _registry_of(scope: Construct) -> _Registry:
    root = scope.node.root
    key = _root_key(root)
    registry = _REGISTRIES.get(key)
    if registry is None:
        registry = _Registry()
        _REGISTRIES[key] = registry
        root.node.add_validation(_NoCollisions(registry))
    stage = Stage.of(scope)
    if stage is not None and stage.node.path and stage.node.path not in registry.stages:
        registry.stages.add(stage.node.path)
        stage.node.add_validation(_NoCollisions(registry, stage.node.path))
    return registry


def _root_key(root: IConstruct) -> str:
    ref: Any = getattr(root, "__jsii_ref__", None)
    if ref is None:  # every jsii object has one; keep a distinct (if per-proxy) key rather than fail
        return f"python:{id(root)}"
    return str(ref.ref)


def _env_of(scope: Construct) -> _Env:
    stack = Stack.of(scope)
    account, region = stack.account, stack.region
    stage = Stage.of(scope)
    return _Env(
        stack=stack.node.path,
        account=None if Token.is_unresolved(account) else account,
        region=None if Token.is_unresolved(region) else region,
        stage=stage.node.path if stage is not None else "",
    )


def _may_share(first: _Env, second: _Env, level: Scope) -> bool:
    """Whether the two environments may be one account (and, for ``level="region"``, one region)."""
    if first.account is not None and second.account is not None and first.account != second.account:
        return False
    if level == "account":
        return True
    return first.region is None or second.region is None or first.region == second.region


def _same_series(first: _SeriesClaim, second: _SeriesClaim) -> bool:
    if (first.namespace, first.metric_name) != (second.namespace, second.metric_name):
        return False
    if [name for name, _ in first.dimensions] != [name for name, _ in second.dimensions]:
        return False
    return all(
        _any_value(one) or _any_value(other) or one == other
        for (_, one), (_, other) in zip(first.dimensions, second.dimensions, strict=True)
    )


def _any_value(value: str) -> bool:
    """Whether a dimension value is a log event field (``$.level``, ``$container``) or a token."""
    return value.startswith("$") or Token.is_unresolved(value)


# --- messages ------------------------------------------------------------------------------------------------


def _name_message(first: _NameClaim, second: _NameClaim, level: Scope) -> str:
    certain = _certain(first.env, second.env, level)
    verb = "is" if certain else "may be"
    where = _where(first.env, second.env, level)
    notes: list[str] = []
    if level == "account":
        notes.append(f"{first.kind} names are per account, not per region")
    if first.kind in CASE_INSENSITIVE_KINDS:
        notes.append(f"{first.kind} names ignore case")
    if notes:
        where += f" ({'; '.join(notes)})"
    show_regions = level == "account" and first.env.region != second.env.region
    by_first = _by(first, level, show_regions, first.name, certain)
    by_second = _by(second, level, show_regions, first.name, certain)
    return f"{first.kind} name {first.name!r} {verb} created twice in {where}: by {by_first} and by {by_second}; {second.hint}"


def _series_message(first: _SeriesClaim, second: _SeriesClaim) -> str:
    certain = _certain(first.env, second.env, "region")
    verb = "is" if certain else "may be"
    where = _where(first.env, second.env, "region")
    dims = ", ".join(f"{name}={value}" for name, value in first.dimensions) or "no dimensions"
    return (
        f"metric series {first.metric_name!r} in namespace {first.namespace!r} ({dims}) {verb} published by two "
        f"metric filters in {where}: {_by_series(first, certain)} and {_by_series(second, certain)}, so an alarm on it counts the "
        f"log lines of both (a staging crash pages prod); {SERIES_HINT}"
    )


def _certain(first: _Env, second: _Env, level: Scope) -> bool:
    """Whether the two environments are surely the same: one stack, or both known (and, if so, equal)."""
    return first.stack == second.stack or all(
        env.account is not None and (level == "account" or env.region is not None) for env in (first, second)
    )


def _where(first: _Env, second: _Env, level: Scope) -> str:
    account = first.account or second.account
    if level == "account":
        return f"account {account}" if account else "one account"
    region = first.region or second.region
    return f"aws://{account or 'unknown-account'}/{region or 'unknown-region'}"


def _missing(env: _Env, level: Scope) -> str:
    """Why an environment may be the other one: `` (its stack has no account, ...)``, or empty."""
    gaps = [what for what, value in (("account", env.account), ("region", env.region)) if value is None]
    if level == "account" and "region" in gaps:
        gaps.remove("region")
    if not gaps:
        return ""
    return f" (its stack has no {' or '.join(gaps)}, so it may deploy there)"


def _by(claim: _NameClaim, level: Scope, show_region: bool, first_name: str, certain: bool) -> str:
    """``claim``'s path, its spelling if it differs from ``first_name`` (case), its region if asked and known."""
    text = claim.path
    if claim.name != first_name:
        text += f" as {claim.name!r}"
    if show_region and claim.env.region:
        text += f" in {claim.env.region}"
    return text if certain else text + _missing(claim.env, level)


def _by_series(claim: _SeriesClaim, certain: bool) -> str:
    return claim.path if certain else claim.path + _missing(claim.env, "region")


def _show(value: Any) -> str:
    if value is None or isinstance(value, (str, bytes, int, float, bool)):
        return repr(value)
    return f"a {type(value).__module__}.{type(value).__qualname__}"
