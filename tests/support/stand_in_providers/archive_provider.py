"""Stand-in for hashicorp/archive: the `archive_file` data source, zip archives only.

Follows terraform-provider-archive v2.7.1 (commit 7096ab68f450798a4216950c921825194db1d4ab):
schema, validators and Read from internal/provider/data_source_archive_file.go, archive layout
from internal/provider/zip_archiver.go. Like the real provider, `output_file_mode` applies to
`source_file` and `source_dir` only: content from `source` blocks and `source_content` goes in
through Go's `zip.Writer.Create`, with no Unix mode and a zero timestamp. The bytes differ from
the real provider's (another deflate implementation) but are deterministic: fixed timestamps and
sorted entries, so the same inputs give the same hashes on every run.
"""

from __future__ import annotations

import base64
import hashlib
import io
import re
import stat
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tf.blocks import SetNestedBlock
from tf.iface import ReadDataContext
from tf.runner import run_provider
from tf.schema import Attribute, Block, Schema
from tf.types import Bool, Number, Set, String, Unknown
from tf.utils import Diagnostics

State = dict[str, Any]

# Go's zip.Writer.Create leaves the MS-DOS date and time at 0 (month 0, day 0). For files, the real
# provider's zero time.Time has no ZipInfo equivalent; the zip epoch stands in for it.
CONTENT_DATE_TIME = (1980, 0, 0, 0, 0, 0)
FILE_DATE_TIME = (1980, 1, 1, 0, 0, 0)
CREATED_BY_MSDOS = 0  # no Unix attributes: unzip applies its defaults (umask), like for Go's Create

SOURCES = ("source", "source_content_filename", "source_file", "source_dir")
# ConflictsWith validators, per attribute.
CONFLICTS = {
    "source": ("source_file", "source_dir", "source_content", "source_content_filename"),
    "source_content": ("source_file", "source_dir"),
    "source_content_filename": ("source_file", "source_dir"),
    "source_file": ("source_dir", "source_content", "source_content_filename"),
    "source_dir": ("source_file", "source_content", "source_content_filename"),
    "excludes": ("source_file", "source_content", "source_content_filename"),
}

SCHEMA = Schema(
    attributes=[
        Attribute("id", String(), computed=True),
        Attribute("type", String(), required=True),
        Attribute("source_content", String(), optional=True),
        Attribute("source_content_filename", String(), optional=True),
        Attribute("source_file", String(), optional=True),
        Attribute("source_dir", String(), optional=True),
        Attribute("excludes", Set(String()), optional=True),
        Attribute("exclude_symlink_directories", Bool(), optional=True),
        Attribute("output_path", String(), required=True),
        Attribute("output_size", Number(), computed=True),
        Attribute("output_file_mode", String(), optional=True),
        Attribute("output_md5", String(), computed=True),
        Attribute("output_sha", String(), computed=True),
        Attribute("output_sha256", String(), computed=True),
        Attribute("output_base64sha256", String(), computed=True),
        Attribute("output_sha512", String(), computed=True),
        Attribute("output_base64sha512", String(), computed=True),
    ],
    block_types=[
        SetNestedBlock(
            "source",
            Block(
                attributes=[
                    Attribute("content", String(), required=True),
                    Attribute("filename", String(), required=True),
                ]
            ),
        )
    ],
)


def configured(value: Any) -> bool:
    """Known and set: not null, not unknown, and for the `source` blocks not an empty set."""
    return value is not None and value is not Unknown and value != []


def glob_regex(pattern: str) -> re.Pattern[str]:
    """doublestar's PathMatch: `**` spans directories, `*` and `?` stay within one, `[...]`, `{a,b}`."""
    parts: list[str] = []
    index, braces = 0, 0
    while index < len(pattern):
        char = pattern[index]
        if pattern.startswith("**/", index):
            parts.append("(?:.*/)?")
            index += 3
            continue
        if pattern.startswith("**", index):
            parts.append(".*")
            index += 2
            continue
        if char == "[" and (end := pattern.find("]", index + 2)) != -1:
            body = pattern[index + 1 : end]
            parts.append("[" + ("^" + body[1:] if body.startswith("!") else body) + "]")
            index = end + 1
            continue
        if char == "\\" and index + 1 < len(pattern):
            index += 1
            char = pattern[index]
            parts.append(re.escape(char))
        elif char == "*":
            parts.append("[^/]*")
        elif char == "?":
            parts.append("[^/]")
        elif char == "{":
            braces += 1
            parts.append("(?:")
        elif char == "}" and braces:
            braces -= 1
            parts.append(")")
        elif char == "," and braces:
            parts.append("|")
        else:
            parts.append(re.escape(char))
        index += 1
    return re.compile("".join(parts))


def file_mode(text: str) -> int:
    """Go's strconv.ParseUint(text, 0, 32): a leading 0 means octal ("0644"), 0x/0o/0b prefixes too."""
    return int(text, 8) if len(text) > 1 and text[0] == "0" and text[1].isdigit() else int(text, 0)


def walk(
    directory: Path, prefix: str, excludes: list[re.Pattern[str]], skip_linked_dirs: bool
) -> Iterator[tuple[Path, str]]:
    """Files under `directory` in filepath.Walk's lexical order, with their archive names; an
    excluded directory is skipped whole, a linked directory is followed unless told not to."""
    for entry in sorted(directory.iterdir(), key=lambda path: path.name):
        name = prefix + entry.name
        if any(pattern.fullmatch(name) for pattern in excludes):
            continue
        if entry.is_dir():
            if not (entry.is_symlink() and skip_linked_dirs):
                yield from walk(entry, name + "/", excludes, skip_linked_dirs)
        else:
            yield entry, name


def file_info(path: Path, name: str, mode: int | None) -> zipfile.ZipInfo:
    """A header like zip.FileInfoHeader's, with output_file_mode replacing the file's own mode."""
    info = zipfile.ZipInfo(name, date_time=FILE_DATE_TIME)
    info.compress_type = zipfile.ZIP_DEFLATED
    unix_mode = stat.S_IFREG | (stat.S_IMODE(path.stat().st_mode) if mode is None else mode & 0o777)
    info.external_attr = unix_mode << 16 | (0 if unix_mode & stat.S_IWUSR else 0x01)  # MS-DOS read-only bit
    return info


def add_content(archive: zipfile.ZipFile, name: str, content: str) -> None:
    """An entry like Go's zip.Writer.Create makes: deflated, MS-DOS date 0, no attributes."""
    info = zipfile.ZipInfo(name, date_time=CONTENT_DATE_TIME)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.create_system = CREATED_BY_MSDOS
    archive.writestr(info, content)
    # zipfile turns attributes 0 into ?rw------- (0o600) when writing the entry; attributes are
    # stored in the central directory only, written on close, so resetting them here keeps 0.
    info.external_attr = 0


def build_zip(config: State) -> bytes:
    """The archive for `config`, from its one source (checked in that order by the real Read)."""
    mode = file_mode(config["output_file_mode"]) if config["output_file_mode"] else None
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        if config["source_dir"] is not None:
            excludes = [glob_regex(pattern) for pattern in config["excludes"] or [] if pattern]
            files = list(walk(Path(config["source_dir"]), "", excludes, bool(config["exclude_symlink_directories"])))
            if not files:
                raise ValueError("error archiving directory: archive has not been created as it would be empty")
            for path, name in files:
                archive.writestr(file_info(path, name, mode), path.read_bytes())
        elif config["source_file"] is not None:
            path = Path(config["source_file"])
            archive.writestr(file_info(path, path.name, mode), path.read_bytes())
        elif config["source_content_filename"] is not None:
            add_content(archive, config["source_content_filename"], config["source_content"] or "")
        else:
            contents = {source["filename"]: source["content"] for source in config["source"]}
            for name in sorted(contents):
                add_content(archive, name, contents[name])
    return buffer.getvalue()


class ArchiveFileDataSource:
    def __init__(self, provider: ArchiveProvider) -> None:
        self.provider = provider

    @classmethod
    def get_name(cls) -> str:
        return "file"

    @classmethod
    def get_schema(cls) -> Schema:
        return SCHEMA

    def validate(self, diags: Diagnostics, type_name: str, config: State) -> None:
        # Like the framework's validators, an unknown value defers the check to a later validation.
        if not any(config[name] is Unknown or configured(config[name]) for name in SOURCES):
            diags.add_error(
                "Invalid Attribute Combination",
                f"At least one attribute out of [{','.join(SOURCES)}] must be specified",
            )
        for name, others in CONFLICTS.items():
            for other in others:
                if configured(config[name]) and configured(config[other]):
                    diags.add_error(
                        "Invalid Attribute Combination",
                        f'Attribute "{other}" cannot be specified when "{name}" is specified',
                        path=[name],
                    )

    def read(self, ctx: ReadDataContext, config: State) -> State | None:
        if config["type"] != "zip":
            ctx.diagnostics.add_error(
                "Archive creation error",
                f"the stand-in for hashicorp/archive makes zip archives only, not {config['type']}",
            )
            return None
        try:
            data = build_zip(config)
            output = Path(config["output_path"])
            output.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
            output.write_bytes(data)
        except (OSError, ValueError) as exc:
            ctx.diagnostics.add_error("Archive creation error", f"error creating archive: {exc}")
            return None
        sha256 = hashlib.sha256(data).digest()
        sha512 = hashlib.sha512(data).digest()
        sha1 = hashlib.sha1(data).hexdigest()
        return {
            **config,
            "id": sha1,
            "output_size": len(data),
            "output_md5": hashlib.md5(data).hexdigest(),
            "output_sha": sha1,
            "output_sha256": sha256.hex(),
            "output_base64sha256": base64.b64encode(sha256).decode(),
            "output_sha512": sha512.hex(),
            "output_base64sha512": base64.b64encode(sha512).decode(),
        }


class ArchiveProvider:
    def get_model_prefix(self) -> str:
        return "archive_"

    def full_name(self) -> str:
        return "registry.terraform.io/hashicorp/archive"

    def get_provider_schema(self, diags: Diagnostics) -> Schema:
        return Schema()

    def validate_config(self, diags: Diagnostics, config: State) -> None:
        pass

    def configure_provider(self, diags: Diagnostics, config: State) -> None:
        pass

    def get_data_sources(self) -> list[type]:
        return [ArchiveFileDataSource]

    def get_resources(self) -> list[type]:
        return []

    def get_functions(self) -> list[type]:
        return []

    def new_data_source(self, klass: type[ArchiveFileDataSource]) -> ArchiveFileDataSource:
        return klass(self)


if __name__ == "__main__":
    run_provider(ArchiveProvider())
