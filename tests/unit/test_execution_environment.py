# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ganeti.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The execution environment definition (extensions/awx) and the collection's own EE dependencies (meta/).

Both are read by ansible-builder: ``ansible-builder create`` writes the build
context of extensions/awx/execution-environment.yml (no network needed), and
``ansible-builder introspect`` reads meta/execution-environment.yml from an
installed collection, as the image build does. Skipped where ansible-builder
is not installed (it is in the development venv, requirements-dev.txt).
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEFINITION = os.path.join(ROOT, "extensions", "awx", "execution-environment.yml")


def _ansible_builder():
    beside = os.path.join(os.path.dirname(sys.executable), "ansible-builder")
    return beside if os.access(beside, os.X_OK) else shutil.which("ansible-builder")


BUILDER = _ansible_builder()
pytestmark = pytest.mark.skipif(BUILDER is None, reason="ansible-builder is not installed")


def _builder(*args):
    proc = subprocess.run([BUILDER] + list(args), capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def test_ansible_builder_create_accepts_the_definition(tmp_path):
    context = tmp_path / "context"
    _builder("create", "--file", DEFINITION, "--context", str(context), "--output-filename", "Containerfile")
    containerfile = (context / "Containerfile").read_text(encoding="utf-8")
    with open(DEFINITION, encoding="utf-8") as handle:
        definition = yaml.safe_load(handle)
    assert definition["version"] == 3
    assert 'ARG EE_BASE_IMAGE="%s"' % definition["images"]["base_image"]["name"] in containerfile
    # ansible-core within the range the collection supports (meta/runtime.yml), and ansible-runner for AWX.
    assert "ansible-core>=2.16,<2.20" in containerfile and "ansible-runner" in containerfile
    # The collection comes from the galaxy requirements the context carries, installed where AWX looks.
    assert "ansible-galaxy collection install" in containerfile
    assert "-r requirements.yml" in containerfile
    with open(context / "_build" / "requirements.yml", encoding="utf-8") as handle:
        requirements = yaml.safe_load(handle)
    assert [c["name"] for c in requirements["collections"]] == ["ganeti.fleet"]
    # Its dependencies are introspected from the installed collection (the next test), not listed twice.
    assert "introspect" in containerfile


def test_the_collection_declares_its_execution_environment_dependencies(tmp_path):
    """What the image build reads from the installed collection: requests, cryptography, an ssh client."""
    link = tmp_path / "collections" / "ansible_collections" / "ganeti" / "fleet"
    link.parent.mkdir(parents=True)
    link.symlink_to(ROOT)
    found = yaml.safe_load(_builder("introspect", "--sanitize", str(tmp_path / "collections")))
    python = {line.split()[0] for line in found["python"]}
    assert {"requests>=2.25", "cryptography>=41"} <= python, found
    assert all("from collection ganeti.fleet" in line for line in found["python"] + found["system"]), found
    system = [line.split("#")[0].strip() for line in found["system"]]
    assert "openssh-clients [platform:rpm]" in system and "openssh-client [platform:dpkg]" in system, found
    # ... and the plugins import no other third-party library.
    assert _third_party_imports() == {"requests", "cryptography"}


def _third_party_imports():
    """Top-level names of what the plugins import, without the standard library, Ansible and the collection."""
    names = set()
    for directory, _dirs, files in os.walk(os.path.join(ROOT, "plugins")):
        for name in files:
            if name.endswith(".py"):
                with open(os.path.join(directory, name), encoding="utf-8") as handle:
                    tree = ast.parse(handle.read())
                for node in ast.walk(tree):
                    if isinstance(node, ast.Import):
                        names.update(alias.name.split(".")[0] for alias in node.names)
                    elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                        names.add(node.module.split(".")[0])
    return names - set(sys.stdlib_module_names) - {"__future__", "ansible", "ansible_collections"}
