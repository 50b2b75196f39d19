# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ganeti.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment:
    """Modules that run on a Ganeti node over SSH instead of talking to RAPI."""

    # Every such module.
    DOCUMENTATION = r"""
options: {}
notes:
  - This module runs on a Ganeti node over the normal SSH connection (it is not a RAPI module). It needs root.
attributes:
  check_mode:
    support: full
    details:
      - Nothing is written in check mode; the result says what would change.
  platform:
    description: Target OS/families that can be operated against.
    support: full
    platforms: posix
"""

    # Modules that work on the master node only (together with DOCUMENTATION).
    MASTER = r"""
options: {}
notes:
  - Run it on the cluster's B(master node); on another host it fails and names the master.
"""

    # Modules whose options hold a secret.
    SECRETS = r"""
options: {}
notes:
  - Enable pipelining for the task (set the variable C(ansible_pipelining=true) on it, as the examples do) so
    that Ansible does not write the module's arguments, secrets included, to a temporary file on the node.
"""
