"""A Terraform filesystem mirror (unpacked layout) holding launchers for the stand-in providers."""

from __future__ import annotations

import json
import platform
import shlex
import sys
from pathlib import Path
from typing import NamedTuple

HERE = Path(__file__).resolve().parent
REGISTRY = "registry.terraform.io"


class StandIn(NamedTuple):
    name: str
    version: str  # inside the root configuration's constraints
    script: Path


STAND_INS = (
    StandIn("random", "3.7.2", HERE / "random_provider.py"),
    StandIn("archive", "2.7.1", HERE / "archive_provider.py"),
)

LAUNCHER = """\
#!/bin/sh
# Stand-in for hashicorp/{name} {version}, written by tests/stand_in_providers/mirror.py.
# The tf framework caches its TLS certificate under $HOME/.cache: a home of its own keeps that writable.
export HOME={home}
exec {python} {script} "$@"
"""


def terraform_platform() -> str:
    """Terraform's name for this machine's platform, e.g. linux_amd64 (the launchers run anywhere)."""
    machine = platform.machine().lower()
    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine)
    return f"{sys.platform}_{arch}"


def build_mirror(directory: Path) -> Path:
    """Write the launchers at <directory>/registry.terraform.io/hashicorp/<name>/<version>/<platform>/.

    Each launcher runs its provider with this interpreter (the project's venv, which has `tf`).
    The Python sources stay where they are, so the package directories, and the hashes
    `terraform init` records for them, do not change when the sources do.
    """
    for stand_in in STAND_INS:
        package = directory / REGISTRY / "hashicorp" / stand_in.name / stand_in.version / terraform_platform()
        package.mkdir(parents=True, exist_ok=True)
        home = directory / ".home" / stand_in.name
        home.mkdir(parents=True, exist_ok=True)
        launcher = package / f"terraform-provider-{stand_in.name}_v{stand_in.version}"
        launcher.write_text(
            LAUNCHER.format(
                name=stand_in.name,
                version=stand_in.version,
                home=shlex.quote(str(home)),
                python=shlex.quote(sys.executable),
                script=shlex.quote(str(stand_in.script)),
            )
        )
        launcher.chmod(0o755)
    return directory


def cli_config_text(aws_mirror: Path, stand_in_mirror: Path) -> str:
    """A CLI configuration installing hashicorp/aws from its mirror, random and archive from the
    stand-ins, and nothing from the network (no `direct` block)."""
    stand_ins = [f"{REGISTRY}/hashicorp/{stand_in.name}" for stand_in in STAND_INS]
    return (
        "provider_installation {\n"
        "  filesystem_mirror {\n"
        f"    path    = {json.dumps(str(aws_mirror))}\n"
        f"    include = {json.dumps([f'{REGISTRY}/hashicorp/aws'])}\n"
        "  }\n"
        "  filesystem_mirror {\n"
        f"    path    = {json.dumps(str(stand_in_mirror))}\n"
        f"    include = {json.dumps(stand_ins)}\n"
        "  }\n"
        "}\n"
    )
