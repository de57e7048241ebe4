"""docs/migration.md's keep-the-instance path, walked as the seed's team would: the guide's own cdk.json edit and
commands, in order, with the pinned CDK CLI, in a clean copy of the project.

What runs here and what does not:

- Step 2's ``aws logs describe-log-groups`` / ``aws cloudwatch describe-alarms`` outputs come from moto, for the
  groups and alarms created as the seed's Terraform creates them (tests/test_import_stage.py, :func:`describe`).
- Step 3's ``python import_app.py mapping`` and the guide's ``cdk synth --app "python import_app.py"`` run as written.
  ``cdk import`` itself needs AWS: neither moto's nor LocalStack's (2026.3.0) CloudFormation implements
  ``ChangeSetType=IMPORT`` (LocalStack answers "Stack ... does not exist"), so the test checks what the CLI's import
  reads: its flags (``cdk import --help``), the mapping file against the template it imports (every resource mapped
  by the identifier CloudFormation imports it by: ``LogGroupName``, ``AlarmName``; AWS CloudFormation User Guide,
  "Resource type support" for import), and that nothing else is in that template.
- Step 5's deploy is the CLI's ``cdk synth`` of the main app with the guide's ``cdk.json``: every imported resource
  keeps its logical id, type and name (a changed ``AlarmName`` or ``LogGroupName`` would replace it: "Update requires:
  Replacement" in AWS::CloudWatch::Alarm and AWS::Logs::LogGroup), and the alarms gain their actions in place.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.checkout import clean_copy
from tests.conftest import NODE_DIR, ROOT
from tests.test_import_stage import EXISTING, GROUPS, describe

GUIDE = ROOT / "docs" / "migration.md"
STACK = "AiTutorStaging"
#: What CloudFormation imports each type by (the resource mapping's key).
IDENTIFIERS = {"AWS::Logs::LogGroup": "LogGroupName", "AWS::CloudWatch::Alarm": "AlarmName"}
TERRAFORM_ALARMS = ("ai-tutor-staging-cpu-high", "ai-tutor-staging-status-check")


def _section(title_start: str) -> str:
    """The text of the guide's ``###`` section whose title starts with ``title_start``."""
    text = GUIDE.read_text()
    match = re.search(rf"^### {re.escape(title_start)}.*?$(.*?)(?=^##)", text, re.M | re.S)
    assert match, f"docs/migration.md has no section '### {title_start}...'"
    return match.group(1)


def _blocks(section: str, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", section, re.S)


def _commands(block: str) -> list[str]:
    """The shell commands of a block: continuation lines joined, comments dropped."""
    joined = re.sub(r"\\\n\s*", "", block)
    return [line.split("  #")[0].strip() for line in joined.splitlines() if line.strip()]


def _run(project: Path, command: str) -> subprocess.CompletedProcess[str]:
    """``command`` in ``project`` with the guide's environment: the venv's python, ``cdk`` the pinned CLI, no AWS."""
    cdk = f"node {shlex.quote(str(ROOT / 'node_modules' / 'aws-cdk' / 'bin' / 'cdk'))}"
    env = {
        "PATH": os.pathsep.join([str(NODE_DIR), str(Path(sys.executable).parent), "/usr/bin", "/bin"]),
        "HOME": str(project / ".home"),
    }
    script = f'cdk() {{ {cdk} "$@"; }}\nset -euo pipefail\n{command}\n'
    return subprocess.run(
        ["bash", "-c", script], cwd=project, env=env, capture_output=True, text=True, timeout=600, check=False
    )


@pytest.fixture(scope="module")
def walked(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The guide's steps 2, 3 and 5 run in a clean copy; what each left behind."""
    project = clean_copy(tmp_path_factory.mktemp("team") / "project")
    (project / ".home").mkdir()

    # Step 2: the descriptions, where the guide's commands write them.
    describe_step = _section("2.")
    for target in ("migration/log-groups.json", "migration/alarms.json"):
        assert f"> {target}" in describe_step, f"step 2 no longer writes {target}"
    describe(project / "migration", dict.fromkeys(GROUPS, 30))

    # Step 3: cdk.json's context as the guide shows it, then its commands.
    import_step = _section("3.")
    (snippet,) = _blocks(import_step, "json")
    edit = json.loads("{" + snippet.strip() + "}")
    assert edit == {
        "existing_instance": {"instance_id": EXISTING["instance_id"], "role_name": EXISTING["role_name"]}
    }
    cdk_json = json.loads((project / "cdk.json").read_text())
    cdk_json["context"].update(edit)
    (project / "cdk.json").write_text(json.dumps(cdk_json, indent=2))

    (commands,) = _blocks(import_step, "sh")
    mapping_command, import_command = _commands(commands)
    assert mapping_command == "python import_app.py mapping > migration/mapping.json"
    mapped = _run(project, mapping_command)
    assert mapped.returncode == 0, mapped.stderr
    preview = re.search(r"`(cdk synth --app \"python import_app\.py\" -o cdk\.import\.out)`", import_step)
    assert preview, "step 3 no longer shows the import template's synth"
    synthesized = _run(project, preview.group(1))
    assert synthesized.returncode == 0, synthesized.stderr
    import_help = _run(project, "cdk import --help")
    assert import_help.returncode == 0, import_help.stderr

    # Step 5: the deploy's synth (make deploy runs `cdk deploy $(ARGS)`, which synthesizes the main app).
    deploy_step = _section("5.")
    assert 'make deploy ARGS="-c alarm_emails=ops@example.com"' in deploy_step
    deployed = _run(
        project, "cdk synth --no-notices --quiet -c alarm_emails=ops@example.com -o cdk.deploy.out"
    )
    assert deployed.returncode == 0, deployed.stderr

    return {
        "import_command": shlex.split(import_command),
        "import_help": import_help.stdout,
        "mapping": json.loads((project / "migration" / "mapping.json").read_text()),
        "imported": json.loads((project / "cdk.import.out" / f"{STACK}.template.json").read_text()),
        "full": json.loads((project / "cdk.deploy.out" / f"{STACK}.template.json").read_text()),
    }


def test_the_import_command_is_one_the_pinned_cli_takes(walked: dict[str, Any]) -> None:
    words = walked["import_command"]
    assert words[:2] == ["cdk", "import"]
    assert words[words.index("--app") + 1] == "python import_app.py"
    assert STACK in words
    assert words[words.index("--resource-mapping") + 1] == "migration/mapping.json"
    for flag in ("--resource-mapping", "--app", "--output"):
        assert flag in walked["import_help"], f"cdk import --help does not list {flag}"


def test_the_mapping_names_every_resource_of_the_import_template_by_its_import_identifier(
    walked: dict[str, Any],
) -> None:
    resources = walked["imported"]["Resources"]
    assert set(walked["mapping"]) == set(resources)
    names = {}
    for logical_id, resource in resources.items():
        key = IDENTIFIERS[resource["Type"]]
        assert walked["mapping"][logical_id] == {key: resource["Properties"][key]}
        assert resource["DeletionPolicy"] == "Retain"
        names[resource["Properties"][key]] = resource["Type"]
    # The three groups and Terraform's two alarms, nothing else to import (no CDK metadata resource); the CLI's
    # bootstrap-version rule and parameter stay, as in every stack the CLI deploys.
    alarms = dict.fromkeys(TERRAFORM_ALARMS, "AWS::CloudWatch::Alarm")
    assert names == {**dict.fromkeys(GROUPS, "AWS::Logs::LogGroup"), **alarms}
    assert set(walked["imported"].get("Rules", {})) <= {"CheckBootstrapVersion"}
    assert set(walked["imported"].get("Parameters", {})) <= {"BootstrapVersion"}


def test_the_deploy_after_the_import_changes_each_imported_resource_in_place(walked: dict[str, Any]) -> None:
    full = walked["full"]["Resources"]
    for logical_id, resource in walked["imported"]["Resources"].items():
        assert logical_id in full, f"the deploy would delete the imported {logical_id} and create another"
        kept = full[logical_id]
        key = IDENTIFIERS[resource["Type"]]
        assert kept["Type"] == resource["Type"]
        assert kept["Properties"][key] == resource["Properties"][key], f"{logical_id}: a new name replaces it"
        if resource["Type"] == "AWS::CloudWatch::Alarm":
            assert not resource["Properties"].get("AlarmActions"), "imported as Terraform left it: no actions"
            assert kept["Properties"]["AlarmActions"], f"{logical_id}: the deploy gives it the topic"
