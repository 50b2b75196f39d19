# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ganeti.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Progress lines of a long module run, appended to a file while it runs. Internal use only.

A module call is silent until it returns. :class:`ProgressFile` appends one
line per step (``move web1.example.org: stop the source (12.3 s)``: the
subject, the step, the seconds since the run started) to a file that
someone else follows: the ``instance_move`` action plugin shows each line on
the controller's output as it comes. Only the subject and the step names are
written, never an option's value. Progress is best effort: a file that
cannot be written never fails the run.
"""

from __future__ import annotations

import os
import re
import time

#: Longest line written: a step name is a short sentence, an instance name a DNS name.
MAX_LINE = 300

_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


def progress_line(subject, step, seconds):
    """The line of STEP of SUBJECT, started SECONDS after the run: one line, printable, bounded."""
    line = "%s: %s (%.1f s)" % (subject, step, seconds)
    return _CONTROL.sub(" ", line)[:MAX_LINE]


class ProgressFile:
    """A ``report(step)`` callable that appends a line per step to PATH; does nothing without PATH.

    The file is opened once, in append mode (created ``0600``), and each line
    is one ``write``, so a reader never sees half a line from a flush.
    """

    def __init__(self, path, subject, clock=time.monotonic):
        self.subject = subject
        self.clock = clock
        self.started = clock()
        self.fd = None
        if path:
            try:
                self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            except OSError:
                self.fd = None  # progress is best effort: the move runs without it

    def __call__(self, step):
        if self.fd is None:
            return
        line = progress_line(self.subject, step, self.clock() - self.started) + "\n"
        try:
            os.write(self.fd, line.encode("utf-8", "replace"))
        except OSError:
            self.close()

    def close(self):
        if self.fd is not None:
            try:
                os.close(self.fd)
            except OSError:
                pass
            self.fd = None

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()
        return False
