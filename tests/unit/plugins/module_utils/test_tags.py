# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ganeti.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import pytest

from ansible_collections.ganeti.fleet.plugins.module_utils.tags import (
    plan_tag_change,
    tag_problem,
    validate_tags,
)


def test_present_adds_missing_only():
    plan = plan_tag_change(["a", "b"], ["b", "c"], "present")
    assert plan["add"] == ["c"]
    assert plan["remove"] == []
    assert plan["before"] == ["a", "b"]
    assert plan["after"] == ["a", "b", "c"]
    assert plan["changed"] is True


def test_present_is_idempotent():
    plan = plan_tag_change(["b", "a"], ["a", "b"], "present")
    assert plan["changed"] is False
    assert plan["add"] == plan["remove"] == []
    assert plan["before"] == plan["after"] == ["a", "b"]


def test_present_with_purge_removes_others():
    plan = plan_tag_change(["a", "b", "x"], ["b", "c"], "present", purge=True)
    assert plan["add"] == ["c"]
    assert plan["remove"] == ["a", "x"]
    assert plan["after"] == ["b", "c"]


def test_purge_to_empty():
    plan = plan_tag_change(["a", "b"], [], "present", purge=True)
    assert plan["remove"] == ["a", "b"]
    assert plan["after"] == []


def test_absent_removes_only_present_ones():
    plan = plan_tag_change(["a", "b"], ["b", "c"], "absent")
    assert plan["add"] == []
    assert plan["remove"] == ["b"]
    assert plan["after"] == ["a"]
    assert plan_tag_change(["a"], ["c"], "absent")["changed"] is False


def test_duplicates_are_collapsed():
    plan = plan_tag_change([], ["a", "a", "b"], "present")
    assert plan["add"] == ["a", "b"]


def test_bad_state():
    with pytest.raises(ValueError):
        plan_tag_change([], [], "gone")


@pytest.mark.parametrize("tag", ["role:web", "owner@example", "a.b+c*d/e-f_g", "x" * 128, "ünïcode"])
def test_valid_tags(tag):
    assert tag_problem(tag) is None


@pytest.mark.parametrize("tag, words", [
    ("", "empty"),
    ("x" * 129, "longer than 128"),
    ("with space", "characters"),
    ("semi;colon", "characters"),
    (5, "not a string"),
])
def test_invalid_tags(tag, words):
    assert words in tag_problem(tag)


def test_validate_tags_lists_all_problems():
    assert len(validate_tags(["ok", "bad tag", ""])) == 2
