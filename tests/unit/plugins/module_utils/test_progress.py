# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ganeti.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Progress lines of a move: one line per step, appended to the file the controller follows."""

from __future__ import annotations

import os
import stat

from ansible_collections.ganeti.fleet.plugins.module_utils._progress import MAX_LINE, ProgressFile, progress_line


class Clock:
    def __init__(self, *times):
        self.times = list(times)

    def __call__(self):
        return self.times.pop(0)


def test_one_line_per_step_with_the_seconds_since_the_run_started(tmp_path):
    path = tmp_path / "progress"
    with ProgressFile(str(path), "move web1.example.org", clock=Clock(100.0, 100.04, 112.34)) as report:
        report("plan the move")
        report("stop the source")
    assert path.read_text() == ("move web1.example.org: plan the move (0.0 s)\n"
                                "move web1.example.org: stop the source (12.3 s)\n")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_each_line_is_on_disk_as_soon_as_reported(tmp_path):
    path = tmp_path / "progress"
    report = ProgressFile(str(path), "move vm1", clock=Clock(0.0, 1.0, 2.0))
    report("create the destination instance")
    assert path.read_text() == "move vm1: create the destination instance (1.0 s)\n", "no buffering"
    report("send the disks")
    assert path.read_text().splitlines()[-1] == "move vm1: send the disks (2.0 s)"
    report.close()


def test_lines_are_appended_to_what_the_file_holds(tmp_path):
    path = tmp_path / "progress"
    path.write_text("earlier run\n")
    with ProgressFile(str(path), "move vm1", clock=Clock(0.0, 0.5)) as report:
        report("commit")
    assert path.read_text() == "earlier run\nmove vm1: commit (0.5 s)\n"


def test_a_line_is_one_printable_bounded_line():
    assert progress_line("move a\nb", "step\r\x1b[2Jx", 1) == "move a b: step [2Jx (1.0 s)", "no escape"
    assert len(progress_line("move " + "x" * 1000, "commit", 0)) == MAX_LINE


def test_without_a_file_or_with_one_that_cannot_be_written_the_move_goes_on(tmp_path):
    ProgressFile(None, "move vm1")("plan the move")
    report = ProgressFile(str(tmp_path / "missing-directory" / "progress"), "move vm1")
    report("plan the move")
    assert not (tmp_path / "missing-directory").exists()
    broken = ProgressFile(str(tmp_path / "progress"), "move vm1")
    os.close(broken.fd)  # a write now fails: the report says nothing and stops trying
    broken("stop the source")
    assert broken.fd is None
    broken("send the disks")
    broken.close()
