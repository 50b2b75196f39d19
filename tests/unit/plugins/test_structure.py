# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ganeti.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The collection's structural rules (docs/architecture.md), checked on its source.

One module base, one exception root, one tag vocabulary, small module_utils
files: rules a reviewer would otherwise have to re-check on every change.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import os
import pkgutil

import pytest

from ansible_collections.ganeti.fleet.plugins.module_utils.errors import FleetError

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
PLUGINS = os.path.join(ROOT, "plugins")
MODULE_UTILS = os.path.join(PLUGINS, "module_utils")
MODULES = os.path.join(PLUGINS, "modules")
ROLES = os.path.join(ROOT, "roles")
PACKAGE = "ansible_collections.ganeti.fleet.plugins"
DOC_VARIABLES = ("DOCUMENTATION", "EXAMPLES", "RETURN")
TAG_PREFIX_TEXT = "ganeti-fleet:"
MAX_MODULE_UTILS_LINES = 600
MAX_MAIN_STATEMENTS = 3


def python_files(directory):
    for base, _dirs, files in os.walk(directory):
        for name in sorted(files):
            if name.endswith(".py"):
                yield os.path.join(base, name)


def parse(path):
    with open(path, encoding="utf-8") as handle:
        return ast.parse(handle.read(), filename=path)


def code_strings(tree):
    """String constants of a module that are code, not documentation.

    Left out: the module's DOCUMENTATION/EXAMPLES/RETURN, the attributes of a
    doc fragment class, and every docstring.
    """
    skipped = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and any(getattr(target, "id", None) in DOC_VARIABLES
                                                for target in node.targets):
            skipped.update(id(child) for child in ast.walk(node.value))
        if isinstance(node, ast.ClassDef) and node.name == "ModuleDocFragment":
            skipped.update(id(child) for child in ast.walk(node))
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                skipped.add(id(body[0].value))
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skipped:
            yield node


def test_ansible_module_is_built_only_in_the_module_base():
    offenders = []
    for path in python_files(PLUGINS):
        if os.path.basename(path) == "module_base.py":
            continue
        for node in ast.walk(parse(path)):
            if isinstance(node, ast.Call):
                name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
                if name == "AnsibleModule":
                    offenders.append("%s:%d" % (os.path.relpath(path, ROOT), node.lineno))
            if isinstance(node, ast.ClassDef) and any(getattr(base, "id", None) == "AnsibleModule"
                                                      for base in node.bases):
                offenders.append("%s:%d (subclass)" % (os.path.relpath(path, ROOT), node.lineno))
    assert offenders == []


def documents_an_action_plugin(path):
    """A module file that only documents the action plugin of the same name (no code to run)."""
    return os.path.exists(os.path.join(PLUGINS, "action", os.path.basename(path)))


@pytest.mark.parametrize("path", sorted(p for p in python_files(MODULES) if not documents_an_action_plugin(p)),
                         ids=os.path.basename)
def test_every_module_main_is_a_few_lines(path):
    tree = parse(path)
    mains = [node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name == "main"]
    assert len(mains) == 1
    assert len(mains[0].body) <= MAX_MAIN_STATEMENTS, "main() of %s has %d statements" % (
        os.path.basename(path), len(mains[0].body))


def all_plugin_modules():
    for sub in ("module_utils", "modules", "inventory", "doc_fragments"):
        package = importlib.import_module("%s.%s" % (PACKAGE, sub))
        for info in pkgutil.iter_modules(package.__path__):
            yield importlib.import_module("%s.%s.%s" % (PACKAGE, sub, info.name))


#: Programs that run on the Ganeti nodes, not in a module: standard library only, so their
#: errors cannot derive from FleetError (they travel to the controller as event lines).
NODE_PROGRAMS = ("_disk_stream",)


def test_every_exception_of_the_collection_derives_from_fleet_error():
    roots = []
    for module in all_plugin_modules():
        if module.__name__.rsplit(".", 1)[-1] in NODE_PROGRAMS:
            continue
        for name, value in vars(module).items():
            if (inspect.isclass(value) and issubclass(value, BaseException)
                    and value.__module__ == module.__name__ and not issubclass(value, FleetError)):
                roots.append("%s.%s" % (module.__name__, name))
    assert roots == []


def test_tag_strings_live_only_in_the_tag_vocabulary():
    offenders = []
    for path in python_files(PLUGINS):
        if path == os.path.join(MODULE_UTILS, "tags.py"):
            continue
        for node in code_strings(parse(path)):
            if TAG_PREFIX_TEXT in node.value:
                offenders.append("%s:%d" % (os.path.relpath(path, ROOT), node.lineno))
    assert offenders == []


def test_roles_take_tag_names_from_modules():
    offenders = []
    for base, _dirs, files in os.walk(ROLES):
        if os.path.basename(base) not in ("tasks", "defaults", "vars", "handlers"):
            continue
        for name in files:
            path = os.path.join(base, name)
            with open(path, encoding="utf-8") as handle:
                for number, line in enumerate(handle, 1):
                    if TAG_PREFIX_TEXT in line and not line.lstrip().startswith("#"):
                        offenders.append("%s:%d" % (os.path.relpath(path, ROOT), number))
    assert offenders == []


@pytest.mark.parametrize("path", sorted(python_files(MODULE_UTILS)), ids=os.path.basename)
def test_module_utils_files_stay_small(path):
    with open(path, encoding="utf-8") as handle:
        assert sum(1 for _line in handle) <= MAX_MODULE_UTILS_LINES


@pytest.mark.parametrize("path", sorted(p for p in python_files(MODULE_UTILS) if os.path.basename(p).startswith("_")
                                        and os.path.basename(p) != "__init__.py"), ids=os.path.basename)
def test_internal_module_utils_say_so(path):
    docstring = ast.get_docstring(parse(path)) or ""
    assert docstring.startswith("Internal use only") or docstring.splitlines()[0].endswith("Internal use only."), (
        "%s: the docstring of an internal (_-prefixed) module_utils file starts with 'Internal use only'" % path)
