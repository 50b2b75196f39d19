# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ganeti.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The playbook's list of moves made into one request per host (filter move_requests, _move_request)."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.ganeti.fleet.plugins.filter.move_requests import FilterModule, move_requests
from ansible_collections.ganeti.fleet.plugins.module_utils._move_request import MoveError, listed_requests


def test_names_and_dicts_get_the_defaults_under_their_own_keys():
    listed = listed_requests(["web1", {"name": "db1", "new_name": "db9", "source_policy": "keep"}],
                             {"source_policy": "remove", "link_map": {"br0": "br1"}})
    assert listed == [
        {"host": "move_web1", "request": {"name": "web1", "source_policy": "remove", "link_map": {"br0": "br1"}}},
        {"host": "move_db1", "request": {"name": "db1", "new_name": "db9", "source_policy": "keep",
                                         "link_map": {"br0": "br1"}}},
    ]


def test_defaults_are_not_shared_between_requests():
    listed = listed_requests(["a", "b"], {"nics": [{"mac": "generate"}]})
    listed[0]["request"]["extra"] = 1
    assert "extra" not in listed[1]["request"]


def test_unknown_options_are_left_to_the_module():
    assert listed_requests([{"name": "a", "no_such_option": 1}])[0]["request"]["no_such_option"] == 1


@pytest.mark.parametrize("instances", ["web1", {"name": "web1"}, [], None, 3])
def test_the_list_must_be_a_non_empty_list(instances):
    with pytest.raises(MoveError, match="move_instances must be a non-empty list"):
        listed_requests(instances)


@pytest.mark.parametrize("entry", [{"new_name": "x"}, {"name": ""}, {"name": 3}, 7, ["web1"]])
def test_an_entry_without_a_name_is_named_by_its_index(entry):
    with pytest.raises(MoveError, match=r"move_instances\[1\] is .*give an instance name"):
        listed_requests(["ok", entry])


def test_an_instance_listed_twice_is_refused():
    with pytest.raises(MoveError, match=r"move_instances\[0\] and move_instances\[2\] both list the instance web1"):
        listed_requests(["web1", "db1", {"name": "web1", "new_name": "web2"}])


def test_two_moves_to_one_destination_name_are_refused():
    with pytest.raises(MoveError, match=r"\[0\] and move_instances\[1\] both list the destination name web9"):
        listed_requests([{"name": "web1", "new_name": "web9"}, {"name": "web9"}])


def test_defaults_must_be_a_dict():
    with pytest.raises(MoveError, match="move_defaults must be a dict"):
        listed_requests(["web1"], ["keep"])


def test_the_filter_fails_with_the_message_of_the_check():
    assert FilterModule().filters()["move_requests"] is move_requests
    assert move_requests(["web1"]) == [{"host": "move_web1", "request": {"name": "web1"}}]
    with pytest.raises(AnsibleFilterError, match="both list the instance web1"):
        move_requests(["web1", "web1"], {})
