"""Finding and checking the library, in fresh interpreters (import happens once)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Optional

from helpers import compile_shared

import helios


def import_helios(tmp_path: Path, library: Optional[str]) -> "subprocess.CompletedProcess[str]":
    """Run ``import helios`` in a new interpreter with HELIOS_LIBRARY set to ``library``."""
    env = dict(os.environ)
    env.pop("HELIOS_LIBRARY", None)
    if library is not None:
        env["HELIOS_LIBRARY"] = library
    return subprocess.run(
        [
            sys.executable,
            "-c",
            "import helios; print(helios.LIBRARY_PATH); print(helios.version())",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_installed_package_finds_its_library(tmp_path: Path) -> None:
    result = import_helios(tmp_path, None)
    assert result.returncode == 0, result.stderr
    path, version = result.stdout.split()
    assert Path(path) == helios.LIBRARY_PATH
    assert version == helios.version()


def test_helios_library_names_the_library(tmp_path: Path) -> None:
    result = import_helios(tmp_path, str(helios.LIBRARY_PATH))
    assert result.returncode == 0, result.stderr
    assert Path(result.stdout.split()[0]) == helios.LIBRARY_PATH


def test_a_missing_library_is_a_clear_import_error(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "libhelios.so"
    result = import_helios(tmp_path, str(missing))
    assert result.returncode != 0
    assert "ImportError" in result.stderr
    assert "HELIOS_LIBRARY" in result.stderr
    assert str(missing) in result.stderr


def test_a_file_that_is_not_a_library(tmp_path: Path) -> None:
    fake = tmp_path / "libhelios.so"
    fake.write_text("not a shared library")
    result = import_helios(tmp_path, str(fake))
    assert result.returncode != 0
    assert "ImportError: helios: could not load" in result.stderr
    assert str(fake) in result.stderr


def test_a_library_with_another_abi_version_is_refused(c_compiler: str, tmp_path: Path) -> None:
    source = "unsigned int helios_abi_version(void) { return 999; }\n"
    library = compile_shared(c_compiler, source, tmp_path / "libhelios_abi999.so")
    result = import_helios(tmp_path, str(library))
    assert result.returncode != 0
    assert "ImportError" in result.stderr
    assert "ABI version 999" in result.stderr
    assert f"ABI version {helios.ABI_VERSION}" in result.stderr
    assert str(library) in result.stderr


def test_a_library_without_helios_abi_version(c_compiler: str, tmp_path: Path) -> None:
    library = compile_shared(
        c_compiler, "int unrelated(void) { return 0; }\n", tmp_path / "libother.so"
    )
    result = import_helios(tmp_path, str(library))
    assert result.returncode != 0
    assert "is not a helios library" in result.stderr
