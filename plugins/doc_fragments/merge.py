# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ganeti.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment:
    """What the cluster merge modules share: the target cluster's connection, and where they run."""

    DOCUMENTATION = r"""
options:
  target:
    description:
      - Connection to the RAPI of the target cluster (the cluster that stays). Each key falls back to an
        environment variable C(GANETI_TARGET_RAPI_*) (for example E(GANETI_TARGET_RAPI_URL)).
    type: dict
    required: true
    suboptions:
      rapi_url:
        description: RAPI URL, for example C(https://cluster.example.org:5080).
        type: str
      rapi_user:
        description: RAPI user (read access is enough for these modules).
        type: str
      rapi_password:
        description: Its password.
        type: str
      ca_path:
        description: PEM file of the cluster's RAPI certificate (or its CA).
        type: path
      validate_certs:
        description: Verify the RAPI certificate (V(false) warns; no environment variable).
        type: bool
        default: true
      verify_hostname:
        description:
          - Check that the certificate is issued to the host name of the URL; the CA is verified either way.
          - V(false) needs C(ca_path) holding only this cluster's certificate.
        type: bool
        default: true
      timeout:
        description: Seconds for each HTTP request.
        type: int
        default: 60
      allow_plain_http:
        description: Accept an C(http://) URL (the password then crosses the network in clear text); no environment variable.
        type: bool
        default: false
attributes:
  platform:
    description: Target OS/families that can be operated against.
    support: full
    platforms: posix
"""
