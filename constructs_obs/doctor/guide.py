"""Next steps, in the words of the observability guide's "Troubleshooting Quick Reference" where it has them."""

from __future__ import annotations


def iam_role_attached() -> str:
    """The guide's first step for "CloudWatch Logs not appearing"."""
    return "Check the IAM role is attached: AWS Console → EC2 → your instance → Security tab → IAM Role"


def container_running() -> str:
    """The guide's second step for "CloudWatch Logs not appearing"."""
    return "Check the container is running: docker compose --env-file .env.production ps"


def log_driver(container: str = "<container_name>") -> str:
    """The guide's third step for "CloudWatch Logs not appearing"."""
    return (
        f"Check the Docker log driver: docker inspect {container} | grep -A5 LogConfig (should show awslogs)"
    )


def region_matches(region: str) -> str:
    """The guide's fourth step for "CloudWatch Logs not appearing"."""
    return f"Check the region matches: awslogs-region in docker-compose.yml should be {region}"


def logs_not_appearing(region: str, service: str | None) -> str:
    """All four steps of "CloudWatch Logs not appearing", for one container."""
    container = f"$(docker compose ps -q {service})" if service else "<container_name>"
    return (
        "; ".join([iam_role_attached(), container_running(), log_driver(container), region_matches(region)])
        + " (obs-doctor --deep checks the log driver and region for you)"
    )


INSUFFICIENT_DATA = (
    "Normal for the first 10 minutes after creation. EC2 basic monitoring reports metrics every 5 minutes. "
    "If it persists beyond 15 minutes, check that the EC2 instance ID in the alarm matches the actual instance."
)


def confirm_subscription(endpoint: str) -> str:
    """What to do about a pending email subscription."""
    return (
        f"Check your inbox and confirm: {endpoint} got an 'AWS Notification - Subscription Confirmation' email; "
        "click 'Confirm subscription' (look in spam too). Until then alarms do not reach this address."
    )


def drift(resource: str, stack: str, region: str) -> str:
    """What to do about a resource that was changed or deleted outside CloudFormation."""
    return (
        f"{resource} was changed or deleted outside CloudFormation, and a deploy of an unchanged template does "
        f"not repair it. See what drifted: aws cloudformation detect-stack-drift --stack-name {stack} "
        f"--region {region}; then restore it by hand or by redeploying a template that changes it."
    )


def apply_override(stack: str, region: str) -> str:
    """How to (re)start the app with the stack's ``ComposeLogging`` override, as the README deploys it."""
    return (
        f"Recreate the containers with the stack's logging override: aws cloudformation describe-stacks "
        f"--stack-name {stack} --region {region} --query \"Stacks[0].Outputs[?OutputKey=='ComposeLogging']"
        '.OutputValue" --output text > logging.json && docker compose -f docker-compose.yml -f logging.json up -d'
    )
