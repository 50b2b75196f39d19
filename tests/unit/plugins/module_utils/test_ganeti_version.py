# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ganeti.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import pytest

from ansible_collections.ganeti.fleet.plugins.module_utils._ganeti_version import (
    at_least,
    has_transfer_defect,
    in_place_compatible,
    parse_version,
    version_key,
)

# /2/info of the lab's clusters: Debian 12's Ganeti and Debian 13's.
INFO_30 = {"software_version": "3.0.2", "protocol_version": 3000000, "config_version": 3000000}
INFO_31_RC2 = {"software_version": "3.1.0~rc2", "protocol_version": 3010000, "config_version": 3010000}


@pytest.mark.parametrize("text, expected", [
    ("3.0.2", (3, 0, 2)),
    ("3.1.0~rc2", (3, 1, 0)),
    ("2.16.0~rc1", (2, 16, 0)),
    ("3.1", (3, 1)),
    ("v3.1.1", (3, 1, 1)),
    (None, ()),
    ("unknown", ()),
])
def test_parse_version_gives_the_release_numbers(text, expected):
    assert parse_version(text) == expected


@pytest.mark.parametrize("older, newer", [
    ("3.0.2", "3.1.0~rc1"),
    ("3.1.0~rc1", "3.1.0~rc2"),
    ("3.1.0~beta1", "3.1.0~rc1"),
    ("3.1.0~rc2", "3.1.0"),       # Debian 13's pre-release lacks fixes of the release
    ("3.1.0", "3.1.1"),
    ("2.16.2", "3.0.0"),
    ("3.0.10", "3.1.0~rc1"),
])
def test_versions_order_a_pre_release_before_its_release(older, newer):
    assert version_key(older) < version_key(newer)
    assert at_least(newer, older) and not at_least(older, newer)


def test_short_and_padded_versions_are_equal_and_garbage_is_unknown():
    assert version_key("3.1") == version_key("3.1.0")
    assert version_key("nonsense") is None and at_least("nonsense", "3.0") is None


@pytest.mark.parametrize("version, defect", [
    ("3.0.0", True), ("3.0.2", True), ("2.16.2", True),
    ("3.1.0~rc1", False), ("3.1.0~rc2", False), ("3.1.0", False), ("3.1.1", False),
    ("", None), (None, None),
])
def test_transfer_defect_is_fixed_from_the_first_3_1_pre_release(version, defect):
    # ganeti/ganeti#1699 is in 3.1.0~rc1: the exporter checks the importer's real name.
    assert has_transfer_defect(version) is defect


def test_in_place_follows_ganeti_protocol_and_configuration_versions():
    assert in_place_compatible(INFO_30, dict(INFO_30)) == (True, None)
    compatible, reason = in_place_compatible(INFO_31_RC2, INFO_30)
    assert not compatible and reason == "protocol_version 3010000 on the target, 3000000 on the source"
    # A pre-release and its release share both numbers: Ganeti accepts the node.
    assert in_place_compatible(INFO_31_RC2, dict(INFO_31_RC2, software_version="3.1.0")) == (True, None)
    config_only = dict(INFO_30, config_version=3010000)
    assert in_place_compatible(INFO_30, config_only)[1] == "config_version 3000000 on the target, 3010000 on the source"


def test_in_place_without_version_numbers_compares_the_releases():
    assert in_place_compatible({"software_version": "3.0.2"}, {"software_version": "3.0.2"}) == (True, None)
    assert in_place_compatible({"software_version": "3.0.2"}, {"software_version": "3.0.1"})[0] is False
