# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ganeti.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment:
    """Node-side modules that keep a backup of the secret file they replace (``_node_local.backup_file``)."""

    DOCUMENTATION = r"""
options:
  backup_dir:
    description:
      - Directory on the node where the file is copied before every change, as C(<file name>.<UTC time>Z)
        (for example C(rapi.pem.20260301T101500.123456Z)). Each copy is mode 0600, owned by root, and written
        to disk before the file is replaced; the task fails, changing nothing, when no copy can be made.
      - Created mode 0700 when missing. A directory that is not root's, or that group or others can write to,
        is refused.
      - The copies hold the same secrets as the originals; keep the directory off storage that is less trusted
        than the node itself.
      - The layout, the automatic restore and how to roll back by hand are described in the collection's
        C(docs/docsite/rst/backups_guide.rst).
    type: path
    default: /var/lib/ganeti-fleet/backups
  backups_kept:
    description:
      - How many backups of each file are kept in O(backup_dir), the newest; older ones are removed after each
        new backup. At least 1.
    type: int
    default: 5
notes:
  - Check mode makes no backup.
"""
