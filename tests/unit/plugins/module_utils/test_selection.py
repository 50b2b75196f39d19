# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ganeti.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import pytest

from ansible_collections.ganeti.fleet.plugins.module_utils._selection import (
    find_one,
    select_by_name,
    selected_result,
    wanted_names,
)
from ansible_collections.ganeti.fleet.plugins.module_utils.errors import FleetError

OBJECTS = [
    {"name": "web1.example.org"},
    {"name": "web2.example.org"},
    {"name": "db1.example.org"},
    {"name": "db1.other.org"},
]


def test_wanted_names():
    assert wanted_names() is None
    assert wanted_names(name="a") == ["a"]
    assert wanted_names(name="a", names=["b", "a"]) == ["a", "b"]
    assert wanted_names(names=[]) is None


def test_all_when_no_names():
    selected, missing = select_by_name(OBJECTS, None)
    assert selected == OBJECTS
    assert missing == []


def test_exact_and_order():
    selected, missing = select_by_name(OBJECTS, ["web2.example.org", "web1.example.org"])
    assert [o["name"] for o in selected] == ["web2.example.org", "web1.example.org"]
    assert missing == []


def test_unique_short_name():
    selected, missing = select_by_name(OBJECTS, ["web1"])
    assert [o["name"] for o in selected] == ["web1.example.org"]
    assert missing == []


def test_ambiguous_short_name_is_missing():
    selected, missing = select_by_name(OBJECTS, ["db1"])
    assert selected == []
    assert missing == ["db1"]


def test_unknown_names_reported():
    selected, missing = select_by_name(OBJECTS, ["web1.example.org", "nope", "ghost.example.org"])
    assert [o["name"] for o in selected] == ["web1.example.org"]
    assert missing == ["nope", "ghost.example.org"]


def test_same_object_twice_listed_once():
    selected, missing = select_by_name(OBJECTS, ["web1", "web1.example.org"])
    assert len(selected) == 1


def test_selected_result_one_and_all():
    one = selected_result(OBJECTS, {"name": "web2", "names": None}, "node", "https://c1:5080")
    assert one == {"nodes": [OBJECTS[1]], "node": OBJECTS[1]}
    assert selected_result(OBJECTS, {"name": None, "names": None}, "node", "https://c1:5080") == {"nodes": OBJECTS}


def test_selected_result_names_the_missing():
    with pytest.raises(FleetError) as error:
        selected_result(OBJECTS, {"name": None, "names": ["web1", "x", "db1"]}, "instance", "https://c1:5080")
    assert str(error.value) == "Unknown instances on https://c1:5080: x, db1"
    assert error.value.to_result()["missing"] == ["x", "db1"]


def test_find_one_lists_the_known_names():
    assert find_one(OBJECTS, "web1", "node", "https://c1:5080") is OBJECTS[0]
    with pytest.raises(FleetError, match=r"unknown node db1 on https://c1:5080 \(nodes: db1.example.org, "):
        find_one(OBJECTS, "db1", "node", "https://c1:5080")
