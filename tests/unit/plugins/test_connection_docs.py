# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ganeti.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The documented RAPI connection options are the options the code reads.

``connection.rapi_argument_spec()`` defines them once; the ``rapi`` doc
fragment documents them for modules (``DOCUMENTATION``) and plugins
(``PLUGINS``), the merge modules document them as suboptions.  Names, types,
defaults and environment variables must stay equal.
"""

from __future__ import annotations

import importlib

import pytest
import yaml

from ansible.plugins.loader import fragment_loader
from ansible.utils.plugin_docs import add_fragments

from ansible_collections.ganeti.fleet.plugins.doc_fragments.rapi import ModuleDocFragment as RapiFragment
from ansible_collections.ganeti.fleet.plugins.inventory import rapi as rapi_inventory
from ansible_collections.ganeti.fleet.plugins.module_utils.connection import (
    ENV_PREFIX,
    RAPI_OPTION_NAMES,
    rapi_argument_spec,
)
from ansible_collections.ganeti.fleet.plugins.modules import cluster_merge_carry, cluster_merge_preflight, cluster_merge_verify

COLLECTION = "ganeti.fleet."
FRAGMENTS_PACKAGE = "ansible_collections.ganeti.fleet.plugins.doc_fragments."


class CollectionFragments:
    """Ansible's fragment loader, finding this collection's fragments without its collection finder.

    Plain pytest imports the collection from ``sys.path``; ansible's loader
    would need the collection finder for ``ganeti.fleet.*`` names.
    """

    @staticmethod
    def get(name):
        if not name.startswith(COLLECTION):
            return fragment_loader.get(name)
        module_name = name[len(COLLECTION):]
        if "." in module_name:
            return None  # NAME.ATTRIBUTE: ansible then asks again for NAME
        fragment = importlib.import_module(FRAGMENTS_PACKAGE + module_name).ModuleDocFragment
        return type("ModuleDocFragment", (fragment,), {"ansible_name": name})


def documentation(plugin):
    """The documentation of a module or plugin as ansible-doc shows it: with its fragments."""
    doc = yaml.safe_load(plugin.DOCUMENTATION)
    add_fragments(doc, plugin.__file__, fragment_loader=CollectionFragments())
    return doc


def documented(options):
    """``{name: (type, default, required)}`` of documented options."""
    return {name: (option.get("type", "str"), option.get("default"), bool(option.get("required")))
            for name, option in options.items()}


def specified(spec):
    """``{name: (type, default, required)}`` of an argument spec."""
    return {name: (option.get("type", "str"), option.get("default"), bool(option.get("required")))
            for name, option in spec.items()}


def environment(spec):
    """``{name: [environment variables]}`` of an argument spec's fallbacks."""
    return {name: list(option["fallback"][1]) if "fallback" in option else [] for name, option in spec.items()}


def test_the_module_form_documents_the_spec():
    options = yaml.safe_load(RapiFragment.DOCUMENTATION)["options"]
    spec = rapi_argument_spec()
    assert documented(options) == specified(spec)
    for name, variables in environment(spec).items():
        for variable in variables:
            assert "E(%s)" % variable in " ".join(options[name]["description"]), name


def test_the_plugin_form_names_the_environment_variables_of_the_spec():
    options = yaml.safe_load(RapiFragment.PLUGINS)["options"]
    assert {name: [env["name"] for env in option.get("env", [])] for name, option in options.items()} \
        == {name: variables for name, variables in environment(rapi_argument_spec()).items() if variables}


def test_the_inventory_plugin_documents_the_spec_through_the_fragments():
    options = documentation(rapi_inventory)["options"]
    spec = rapi_argument_spec()
    connection = {name: options[name] for name in spec}
    # Types and defaults as the modules'; rapi_url is optional (clusters may list them instead).
    assert {name: described[:2] for name, described in documented(connection).items()} \
        == {name: specified_[:2] for name, specified_ in specified(spec).items()}
    assert not any(option.get("required") for option in connection.values())
    assert {name: [env["name"] for env in option.get("env", [])] for name, option in connection.items()} \
        == environment(spec)
    # An entry of clusters takes the same options, with the same types.
    clusters = options["clusters"]["suboptions"]
    assert tuple(clusters) == RAPI_OPTION_NAMES == rapi_inventory.RAPI_OPTION_NAMES
    assert {name: option["type"] for name, option in clusters.items()} \
        == {name: option["type"] for name, option in spec.items()}
    # Documented once: the plugin's own DOCUMENTATION does not repeat them.
    assert not set(spec) & set(yaml.safe_load(rapi_inventory.DOCUMENTATION)["options"])


@pytest.mark.parametrize("module", [cluster_merge_carry, cluster_merge_preflight, cluster_merge_verify],
                         ids=lambda m: m.__name__)
def test_the_merge_modules_document_their_connection_dicts(module):
    options = documentation(module)["options"]
    dicts = {name: option for name, option in module.ARGUMENT_SPEC.items() if option.get("options")}
    assert dicts, "no connection dict in %s" % module.__name__
    for name, option in dicts.items():
        assert documented(options[name]["suboptions"]) == specified(option["options"]), name
        # The option's description names the environment variables of its keys: PREFIX + the flat one's end.
        prefixes = set()
        for key, variables in environment(rapi_argument_spec()).items():
            if not variables:
                assert "fallback" not in option["options"][key], (name, key)
                continue
            (flat,) = variables
            (variable,) = option["options"][key]["fallback"][1]
            assert variable.endswith(flat[len(ENV_PREFIX):]), (name, key)
            prefixes.add(variable[:len(variable) - len(flat) + len(ENV_PREFIX)])
        assert len(prefixes) == 1 and prefixes != {ENV_PREFIX}, (name, prefixes)
        assert "C(%s*)" % prefixes.pop() in " ".join(options[name]["description"]), name
