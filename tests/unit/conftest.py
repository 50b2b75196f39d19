# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ganeti.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Make ``ansible_collections.ganeti.fleet`` importable for plain ``pytest tests/unit``.

Under ``ansible-test units`` the collection already lives in an
``ansible_collections/ganeti/fleet`` tree and nothing is changed.  When the
repository is checked out anywhere else, a temporary directory holding an
``ansible_collections/ganeti/fleet`` symlink to the repository root is put
at the front of ``sys.path``.
"""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile

_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _collection_parent(root):
    """Return the directory holding ``ansible_collections`` if ``root`` is already in such a tree."""
    parts = os.path.normpath(root).split(os.sep)
    if len(parts) >= 3 and parts[-3:] == ["ansible_collections", "ganeti", "fleet"]:
        return os.sep.join(parts[:-3]) or os.sep
    return None


def _setup_import_path():
    parent = _collection_parent(_ROOT)
    if parent is None:
        parent = tempfile.mkdtemp(prefix="ganeti-fleet-units-")
        atexit.register(shutil.rmtree, parent, True)
        namespace = os.path.join(parent, "ansible_collections", "ganeti")
        os.makedirs(namespace)
        os.symlink(_ROOT, os.path.join(namespace, "fleet"))
    if parent not in sys.path:
        sys.path.insert(0, parent)


_setup_import_path()
