"""Reading the files the host's user data writes (heredocs), so tests can check them as real files."""

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


def heredoc(script: str, delimiter: str) -> tuple[str, str]:
    """(target path, content) of the one ``cat > PATH <<'DELIMITER'`` heredoc in ``script``."""
    found = re.findall(
        rf"^cat > (\S+) <<'{delimiter}'\n(.*?)\n{delimiter}$", script, flags=re.MULTILINE | re.DOTALL
    )
    assert len(found) == 1, f"expected one heredoc {delimiter} in the user data, found {len(found)}"
    path, content = found[0]
    return path, content + "\n"
