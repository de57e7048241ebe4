"""The pinned CDK CLI's `cdk synth` writes the same template the tests pin (the README's synth path)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT

SNAPSHOT = ROOT / "tests" / "__snapshots__" / "test_staging_stack" / "test_snapshot.json"


def _without_version_metadata(template: dict[str, Any]) -> dict[str, Any]:
    """Drop what only the CLI adds: the CDKMetadata version-reporting resource."""
    resources = {k: v for k, v in template["Resources"].items() if v["Type"] != "AWS::CDK::Metadata"}
    return {**template, "Resources": resources}


@pytest.mark.xdist_group("cli_synth")  # one real CLI synth per run: keep its users on one worker
def test_cli_synth_matches_the_snapshot_without_credentials(
    cli_synth: tuple[subprocess.CompletedProcess[str], Path],
) -> None:
    result, out = cli_synth
    assert result.returncode == 0, result.stderr
    assert "end-of-life" not in result.stdout + result.stderr
    written = json.loads((out / "AiTutorStaging.template.json").read_text())
    assert "CDKMetadata" in written["Resources"], "the CLI reports its version; nothing else may differ"
    assert _without_version_metadata(written) == json.loads(SNAPSHOT.read_text())
