# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ganeti.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment:
    """The options of the info modules that select objects by name."""

    DOCUMENTATION = r"""
options:
  name:
    description:
      - Name of the one object to return, alone and in the list. The module fails if it does not exist.
      - Mutually exclusive with O(names).
    type: str
  names:
    description:
      - Names of the objects to return, in this order. The module fails, naming them, if some do not exist.
      - Mutually exclusive with O(name).
    type: list
    elements: str
notes:
  - Without O(name) and O(names) every object of the cluster is returned, from one C(bulk) request.
  - Names are matched exactly, or by their first label when that is unique (V(web1) finds V(web1.example.org)),
    as Ganeti's command line tools do.
"""
