"""The stand-in providers (tests/support/stand_in_providers): Terraform sees the real providers' schemas,
and a real init/apply/plan/destroy behaves as the real providers do.

The expected tables below are written from the real providers' source, not from the stand-ins:
terraform-provider-random v3.7.2 internal/provider/resource_password.go (`passwordSchemaV3`) and
terraform-provider-archive v2.7.1 internal/provider/data_source_archive_file.go (`Schema`).
"""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import stat
import string
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import bcrypt
import pytest

from support.stand_in_providers.archive_provider import glob_regex
from support.stand_in_providers.mirror import build_mirror, cli_config_text
from support.stand_in_providers.random_provider import keepers_require_replace, override_special_requires_replace
from support.terraform_harness import HarnessError, TerraformWorkdir, find_aws_provider_mirror

pytestmark = pytest.mark.terraform

RANDOM = "registry.terraform.io/hashicorp/random"
ARCHIVE = "registry.terraform.io/hashicorp/archive"

FLAGS = ("required", "optional", "computed", "sensitive", "deprecated")

# name: (type, flags), from passwordSchemaV3 (schema version 3).
RANDOM_PASSWORD = {
    "keepers": (["map", "string"], "optional"),
    "length": ("number", "required"),
    "special": ("bool", "optional computed"),
    "upper": ("bool", "optional computed"),
    "lower": ("bool", "optional computed"),
    "number": ("bool", "optional computed deprecated"),
    "numeric": ("bool", "optional computed"),
    "min_numeric": ("number", "optional computed"),
    "min_upper": ("number", "optional computed"),
    "min_lower": ("number", "optional computed"),
    "min_special": ("number", "optional computed"),
    "override_special": ("string", "optional"),
    "result": ("string", "computed sensitive"),
    "bcrypt_hash": ("string", "computed sensitive"),
    "id": ("string", "computed"),
}

ARCHIVE_FILE = {
    "id": ("string", "computed"),
    "type": ("string", "required"),
    "source_content": ("string", "optional"),
    "source_content_filename": ("string", "optional"),
    "source_file": ("string", "optional"),
    "source_dir": ("string", "optional"),
    "excludes": (["set", "string"], "optional"),
    "exclude_symlink_directories": ("bool", "optional"),
    "output_path": ("string", "required"),
    "output_size": ("number", "computed"),
    "output_file_mode": ("string", "optional"),
    "output_md5": ("string", "computed"),
    "output_sha": ("string", "computed"),
    "output_sha256": ("string", "computed"),
    "output_base64sha256": ("string", "computed"),
    "output_sha512": ("string", "computed"),
    "output_base64sha512": ("string", "computed"),
}
ARCHIVE_FILE_SOURCE = {"content": ("string", "required"), "filename": ("string", "required")}

# What main.tf asks for (random_password.broker, data.archive_file.lambda).
PASSWORD_SPECIALS = "-_.~"
PASSWORD_COUNT = 8

PACKAGE = {
    "__init__.py": "",
    "handler.py": "def handler(event, context):\n    return event\n",
    "sub/data.txt": "some data\n",
    "sub/stale.pyc": "not really compiled\n",
    "__pycache__/handler.cpython-311.pyc": "not really compiled either\n",
}
DIRECTORY_EXCLUDES = ["**/*.pyc", "**/__pycache__"]
INLINE_CONTENT = "inline content\n"

# data.archive_file.<name>: (entries, Unix mode of each entry, or None for no attributes at all).
ARCHIVES: dict[str, tuple[dict[str, str], int | None]] = {
    # As in the real provider: content gets no mode, whatever output_file_mode says.
    "sources": ({f"package/{name}": content for name, content in PACKAGE.items()}, None),
    "directory": ({name: PACKAGE[name] for name in ("__init__.py", "handler.py", "sub/data.txt")}, 0o640),
    "file": ({"handler.py": PACKAGE["handler.py"]}, 0o755),
    "content": ({"inline/content.txt": INLINE_CONTENT}, None),
}

CONFIGURATION = """\
terraform {
  required_providers {
    random  = { source = "hashicorp/random", version = ">= 3.6, < 4.0" }
    archive = { source = "hashicorp/archive", version = ">= 2.4, < 3.0" }
  }
}

variable "length" {
  type    = number
  default = 32
}

# main.tf's password, several times.
resource "random_password" "generated" {
  count = %(count)d

  length           = var.length
  min_lower        = 1
  min_upper        = 1
  min_numeric      = 1
  min_special      = 1
  override_special = "%(specials)s"
}

# main.tf's archive: one source block per file.
data "archive_file" "sources" {
  type             = "zip"
  output_path      = "${path.module}/build/sources.zip"
  output_file_mode = "0644"

  dynamic "source" {
    for_each = sort(fileset("${path.module}/package", "**"))
    content {
      content  = file("${path.module}/package/${source.value}")
      filename = "package/${source.value}"
    }
  }
}

data "archive_file" "directory" {
  type             = "zip"
  source_dir       = "${path.module}/package"
  excludes         = %(excludes)s
  output_path      = "${path.module}/build/directory.zip"
  output_file_mode = "0640"
}

data "archive_file" "file" {
  type             = "zip"
  source_file      = "${path.module}/package/handler.py"
  output_path      = "${path.module}/build/file.zip"
  output_file_mode = "0755"
}

data "archive_file" "content" {
  type                    = "zip"
  source_content          = %(inline)s
  source_content_filename = "inline/content.txt"
  output_path             = "${path.module}/build/content.zip"
}
"""


def terraform_path() -> str:
    path = shutil.which("terraform")
    if path is None:
        pytest.fail("terraform not found on PATH: install Terraform >= 1.11", pytrace=False)
    return path


def described(attributes: Mapping[str, Any]) -> dict[str, tuple[Any, str]]:
    """name: (type, flags) of a `providers schema -json` block's attributes."""
    return {
        name: (attribute["type"], " ".join(flag for flag in FLAGS if attribute.get(flag)))
        for name, attribute in attributes.items()
    }


def output_file(workdir: TerraformWorkdir, values: Mapping[str, Any]) -> Path:
    """An archive's output_path, relative to the working directory like main.tf's."""
    return workdir.path / str(values["output_path"])


def sha256_base64(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


@pytest.fixture(scope="module")
def cli_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    try:
        aws_mirror = find_aws_provider_mirror()
    except HarnessError as exc:
        pytest.fail(str(exc), pytrace=False)
    directory = tmp_path_factory.mktemp("stand-in-providers")
    path = directory / "terraform.tfrc"
    path.write_text(cli_config_text(aws_mirror, build_mirror(directory / "mirror")))
    return path


@pytest.fixture(scope="module")
def workdir(cli_config: Path, tmp_path_factory: pytest.TempPathFactory) -> TerraformWorkdir:
    """A tiny configuration using both stand-ins, initialized."""
    path = tmp_path_factory.mktemp("tiny")
    for name, content in PACKAGE.items():
        (path / "package" / name).parent.mkdir(parents=True, exist_ok=True)
        (path / "package" / name).write_text(content)
    (path / "main.tf").write_text(
        CONFIGURATION
        % {
            "count": PASSWORD_COUNT,
            "specials": PASSWORD_SPECIALS,
            "excludes": json.dumps(DIRECTORY_EXCLUDES),
            "inline": json.dumps(INLINE_CONTENT),
        }
    )
    workdir = TerraformWorkdir(path, terraform_path(), cli_config)
    workdir.run("init", "-input=false", "-no-color").check()
    return workdir


@pytest.fixture(scope="module")
def schemas(workdir: TerraformWorkdir) -> dict[str, Any]:
    shown = workdir.run("providers", "schema", "-json").check()
    result: dict[str, Any] = json.loads(shown.stdout)["provider_schemas"]
    return result


@pytest.fixture(scope="module")
def state(workdir: TerraformWorkdir) -> dict[str, dict[str, Any]]:
    """After an apply: each resource's and data source's values, by address."""
    workdir.run("apply", "-input=false", "-no-color", "-auto-approve").check()
    shown = json.loads(workdir.run("show", "-json", "-no-color").check().stdout)
    return {resource["address"]: resource["values"] for resource in shown["values"]["root_module"]["resources"]}


def test_init_installs_the_stand_ins_at_their_versions(workdir: TerraformWorkdir) -> None:
    version = json.loads(workdir.run("version", "-json").check().stdout)
    assert version["provider_selections"] == {RANDOM: "3.7.2", ARCHIVE: "2.7.1"}


def test_random_password_schema_is_the_real_one(schemas: dict[str, Any]) -> None:
    schema = schemas[RANDOM]["resource_schemas"]["random_password"]
    assert schema["version"] == 3
    assert described(schema["block"]["attributes"]) == RANDOM_PASSWORD
    assert "block_types" not in schema["block"]


def test_archive_file_schema_is_the_real_one(schemas: dict[str, Any]) -> None:
    block = schemas[ARCHIVE]["data_source_schemas"]["archive_file"]["block"]
    assert described(block["attributes"]) == ARCHIVE_FILE
    assert list(block["block_types"]) == ["source"]
    source = block["block_types"]["source"]
    assert source["nesting_mode"] == "set"
    assert described(source["block"]["attributes"]) == ARCHIVE_FILE_SOURCE


def test_passwords_follow_the_arguments(state: dict[str, dict[str, Any]]) -> None:
    passwords = [state[f"random_password.generated[{index}]"] for index in range(PASSWORD_COUNT)]
    allowed = set(string.ascii_letters + string.digits + PASSWORD_SPECIALS)
    results = [password["result"] for password in passwords]
    for result in results:
        assert len(result) == 32
        assert set(result) <= allowed
        for characters in (string.ascii_lowercase, string.ascii_uppercase, string.digits, PASSWORD_SPECIALS):
            assert any(char in characters for char in result), (result, characters)
    assert len(set(results)) == PASSWORD_COUNT
    for password in passwords:
        assert password["id"] == "none"
        assert password["numeric"] is password["number"] is True
        assert bcrypt.checkpw(password["result"].encode(), password["bcrypt_hash"].encode())


@pytest.mark.parametrize("name", ARCHIVES)
def test_archive_is_written_with_its_entries_and_hashes(
    workdir: TerraformWorkdir, state: dict[str, dict[str, Any]], name: str
) -> None:
    entries, mode = ARCHIVES[name]
    values = state[f"data.archive_file.{name}"]
    data = output_file(workdir, values).read_bytes()
    assert values["output_base64sha256"] == sha256_base64(data)
    assert values["output_sha256"] == hashlib.sha256(data).hexdigest()
    assert values["output_base64sha512"] == base64.b64encode(hashlib.sha512(data).digest()).decode()
    assert values["output_sha512"] == hashlib.sha512(data).hexdigest()
    assert values["output_md5"] == hashlib.md5(data).hexdigest()
    assert values["id"] == values["output_sha"] == hashlib.sha1(data).hexdigest()
    assert values["output_size"] == len(data)
    with zipfile.ZipFile(output_file(workdir, values)) as archive:
        assert archive.namelist() == sorted(entries)
        assert {info.filename: archive.read(info).decode() for info in archive.infolist()} == entries
        if mode is None:
            assert {(info.create_system, info.external_attr) for info in archive.infolist()} == {(0, 0)}
        else:
            assert {info.external_attr >> 16 for info in archive.infolist()} == {stat.S_IFREG | mode}


def test_second_plan_shows_no_changes_and_rebuilds_the_same_zips(
    workdir: TerraformWorkdir, state: dict[str, dict[str, Any]]
) -> None:
    archives = [output_file(workdir, state[f"data.archive_file.{name}"]) for name in ARCHIVES]
    before = [path.read_bytes() for path in archives]
    for path in archives:  # the plan reads the data sources again, which writes them anew
        path.unlink()
    plan = workdir.run("plan", "-input=false", "-no-color", "-detailed-exitcode")
    assert plan.returncode == 0, plan.output
    assert [path.read_bytes() for path in archives] == before


def test_length_change_forces_replacement(workdir: TerraformWorkdir, state: dict[str, dict[str, Any]]) -> None:
    workdir.run("plan", "-input=false", "-no-color", "-var=length=40", "-out=longer.tfplan").check()
    plan = json.loads(workdir.run("show", "-json", "-no-color", "longer.tfplan").check().stdout)
    changes = [change for change in plan["resource_changes"] if change["type"] == "random_password"]
    assert len(changes) == PASSWORD_COUNT
    for change in changes:
        assert change["change"]["actions"] == ["delete", "create"]
        assert change["change"]["replace_paths"] == [["length"]]


@pytest.mark.parametrize(
    ("config", "prior", "replace"),
    [
        (None, None, False),
        ({"a": None}, None, False),
        ({"a": "1"}, None, True),
        ({"a": "1"}, {"a": "1"}, False),
        ({"a": "1", "b": None}, {"a": "1"}, False),
        ({"a": "2"}, {"a": "1"}, True),
        ({}, {"a": "1"}, True),
    ],
)
def test_keepers_replace_only_on_a_real_change(config: Any, prior: Any, replace: bool) -> None:
    assert keepers_require_replace(config, prior) is replace


@pytest.mark.parametrize(
    ("config", "prior", "replace"),
    [("-_", "-_", False), (None, "", False), (None, "-_", True), ("", None, True), ("-_", "-", True)],
)
def test_override_special_replaces_except_empty_to_null(config: Any, prior: Any, replace: bool) -> None:
    assert override_special_requires_replace(config, prior) is replace


@pytest.mark.parametrize(
    ("pattern", "matches", "misses"),
    [
        ("**/*.pyc", ["a.pyc", "x/y/a.pyc"], ["a.py", "a.pycx"]),
        ("*.txt", ["a.txt"], ["sub/a.txt"]),
        ("sub/**", ["sub/a", "sub/b/c"], ["other/a"]),
        ("file[12].{txt,md}", ["file1.txt", "file2.md"], ["file3.txt", "file1.rst"]),
        ("[!a]?", ["bc"], ["ab", "b/"]),
    ],
)
def test_excludes_follow_doublestar(pattern: str, matches: list[str], misses: list[str]) -> None:
    regex = glob_regex(pattern)
    assert [name for name in matches if regex.fullmatch(name)] == matches
    assert [name for name in misses if regex.fullmatch(name)] == []


def test_destroy(workdir: TerraformWorkdir, state: dict[str, dict[str, Any]]) -> None:
    """Last in this module: the other tests use the applied state."""
    workdir.run("destroy", "-input=false", "-no-color", "-auto-approve").check()
    assert workdir.run("state", "list").check().stdout == ""
