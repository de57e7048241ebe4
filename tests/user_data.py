"""Reading the host's user data and setup script, and the files they write (heredocs), as real files."""

from __future__ import annotations

import re
from typing import Any


def user_data_script(template: dict[str, Any]) -> str:
    """The single EC2 instance's user data script."""
    instances = [r for r in template["Resources"].values() if r["Type"] == "AWS::EC2::Instance"]
    assert len(instances) == 1
    script = instances[0]["Properties"]["UserData"]["Fn::Base64"]
    assert isinstance(script, str), "user data has deploy-time values; expected a plain script"
    return script


def setup_script(template: dict[str, Any]) -> str:
    """The script of the single host-setup association (``AWS-RunShellScript``), as the SSM agent writes it.

    The agent writes the ``commands`` list one element per line into the script file it runs.
    """
    # The setup carries the host's metadata; the host's termination-protection association does not.
    associations = [
        r
        for r in template["Resources"].values()
        if r["Type"] == "AWS::SSM::Association" and "ConstructsObs::Host" in r.get("Metadata", {})
    ]
    assert len(associations) == 1, f"expected one setup association, found {len(associations)}"
    props = associations[0]["Properties"]
    assert props["Name"] == "AWS-RunShellScript"
    commands = [_resolve(template, line) for line in props["Parameters"]["commands"]]
    return "\n".join(commands) + "\n"


#: What CloudFormation's ``Ref`` gives for the resources a setup line may name: the data volume's id.
REF_VALUES = {"AWS::EC2::Volume": "vol-0123456789abcdef0"}


def _resolve(template: dict[str, Any], line: Any) -> str:
    """A setup line as the agent receives it: a ``Fn::Join`` of text and ``Ref`` s to :data:`REF_VALUES` types."""
    if isinstance(line, str):
        return line
    assert set(line) == {"Fn::Join"} and line["Fn::Join"][0] == "", (
        f"the setup script has a deploy-time value {line}"
    )
    parts = []
    for part in line["Fn::Join"][1]:
        if isinstance(part, dict):
            assert set(part) == {"Ref"}, f"the setup script has a deploy-time value {part}"
            parts.append(REF_VALUES[template["Resources"][part["Ref"]]["Type"]])
        else:
            parts.append(part)
    return "".join(parts)


def heredoc(script: str, delimiter: str) -> tuple[str, str]:
    """(target path, content) of the one ``cat > PATH <<'DELIMITER'`` heredoc in ``script``."""
    found = re.findall(
        rf"^cat > (\S+) <<'{delimiter}'\n(.*?)\n{delimiter}$", script, flags=re.MULTILINE | re.DOTALL
    )
    assert len(found) == 1, f"expected one heredoc {delimiter} in the script, found {len(found)}"
    path, content = found[0]
    return path, content + "\n"
