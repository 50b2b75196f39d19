#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ganeti.fleet contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: cluster_domain_secret
short_description: Set and verify a Ganeti cluster's domain secret on its master node
version_added: 0.1.0
description:
  - Makes sure the cluster domain secret (C(/var/lib/ganeti/cluster-domain-secret)) of the cluster
    holds a given secret, a newly generated one, or simply the current one, and that every online node
    has the same copy as the master.
  - Clusters can move instances between each other only when they share this secret; use the
    P(ganeti.fleet.domain_secret#role) role to give all clusters of a security domain the same one.
  - The secret is never returned. The result carries RV(fingerprint), an HMAC-SHA256 of a fixed
    label keyed with the secret (truncated to 16 hexadecimal characters), which is the same for
    clusters that share the secret and reveals nothing about it.
  - Before the master's file is replaced, it is copied to O(backup_dir) (mode 0600, root).
  - With O(method=redistribute) (the default) the master's file is replaced atomically, keeping the
    existing file's owner, group and mode (Ganeti's C(gnt-masterd:gnt-masterd), 0640, for a new file, as
    Ganeti's C(ensure-dirs) sets it), then C(gnt-cluster redist-conf) copies it to every online
    node. No daemon is stopped.
  - With O(method=renew-crypto) the secret is handed to
    C(gnt-cluster renew-crypto -f --cluster-domain-secret=/dev/stdin --new-confd-hmac-key) through a
    pipe. This stops and restarts the control plane of the whole cluster for a few seconds (RAPI
    included) and also renews the confd HMAC key. C(--new-confd-hmac-key) is always added because
    Ganeti 3.0 silently ignores C(--cluster-domain-secret) without it; the result is checked anyway.
  - After any change, every online node's copy is compared with the master's (through
    C(gnt-cluster command)); the module fails if one differs.
  - When the redistribution or that comparison fails after the master's file was replaced, the previous
    file is put back from its backup (same bytes, owner, group and mode), redistributed and compared
    again, and the module fails saying what failed and that the previous secret was restored on every
    node. If the way back fails too, the message says where the backup is and how to finish by hand.
author:
  - ganeti.fleet maintainers (@ganeti-fleet)
notes:
  - RAPI cannot read or set the secret, hence a module on the master node. The secret is read from and
    written to Ganeti's own file only.
  - Renewing the secret while moves are in flight makes them fail; the secret has no "accept old and
    new" window.
  - O(method=renew-crypto) also leaves Ganeti's own timestamped backups of the previous secret and confd key
    next to the files (mode 0600, root); those are never pruned.
extends_documentation_fragment:
  - ganeti.fleet.attributes
  - ganeti.fleet.node
  - ganeti.fleet.node.master
  - ganeti.fleet.node.secrets
  - ganeti.fleet.backup
attributes:
  check_mode:
    support: full
    details:
      - Nothing is written in check mode; the nodes' copies are still read to say whether the module
        would change anything.
  diff_mode:
    support: full
    details:
      - The diff shows fingerprints and how many nodes are in sync, never the secret.
options:
  secret:
    description:
      - The secret the cluster must use, one line of 16 to 512 printable characters without blanks.
        Ganeti itself generates 40 hexadecimal characters.
      - Keep it in Ansible Vault or another secret store.
      - Mutually exclusive with O(generate). Without O(secret) and O(generate) the current secret is
        kept and only its distribution to the nodes is ensured.
    type: str
  generate:
    description:
      - Replace the secret by a new random one (40 hexadecimal characters, like Ganeti's own).
      - This changes the secret on every run; use it for a deliberate renewal.
    type: bool
    default: false
  method:
    description:
      - How a new secret is put in place; see the description.
      - Copies on nodes that merely differ from the master's are always fixed with C(gnt-cluster redist-conf).
    type: str
    choices: [redistribute, renew-crypto]
    default: redistribute
seealso:
  - name: Ganeti move-instance documentation
    description: Why clusters need a shared domain secret.
    link: https://docs.ganeti.org/docs/ganeti/3.0/html/move-instance.html
"""

EXAMPLES = r"""
- name: Give a cluster the domain secret of its security domain
  ganeti.fleet.cluster_domain_secret:
    secret: "{{ vault_ganeti_domain_secret }}"
  vars:
    ansible_pipelining: true

- name: Renew the secret through gnt-cluster renew-crypto
  ganeti.fleet.cluster_domain_secret:
    generate: true
    method: renew-crypto

- name: Only check that every node has the master's copy, and get the fingerprint
  ganeti.fleet.cluster_domain_secret:
  check_mode: true
  register: cds
"""

RETURN = r"""
fingerprint:
  description:
    - Fingerprint of the secret after the task (in check mode, of the secret it would have; null when
      a secret would be generated). Equal fingerprints mean equal secrets.
  returned: always
  type: str
  sample: 3f9a0c1d52e6b7a8
previous_fingerprint:
  description: Fingerprint of the secret found on the master before the task (null if unusable).
  returned: always
  type: str
  sample: 77c0e2b1a9d4f310
cluster_name:
  description: Name of the cluster (from ssconf).
  returned: always
  type: str
  sample: c1.lab
master_node:
  description: The master node the module ran on.
  returned: always
  type: str
  sample: c1n1.lab
method:
  description: The method used for a new secret.
  returned: always
  type: str
  sample: redistribute
generated:
  description: Whether a new secret was (or in check mode, would be) generated.
  returned: always
  type: bool
  sample: false
steps:
  description:
    - What was done, in order; a subset of V(write), V(renew-crypto) and V(redist-conf).
    - In check mode, what would be done.
    - After a failure, V(restore) (the previous file is back on the master) and the steps of the way back
      that worked follow, for example V([write, restore, redist-conf, verify]), where V(verify) means every
      online node holds the previous secret again.
  returned: always
  type: list
  elements: str
  sample: [write, redist-conf]
nodes_out_of_sync:
  description: Online nodes whose copy differed from the master's before the task.
  returned: always
  type: list
  elements: str
  sample: [c1n2.lab]
backup:
  description: The copy of the master's previous secret file made before it was replaced (null when it was not).
  returned: always
  type: str
  sample: /var/lib/ganeti-fleet/backups/cluster-domain-secret.20260301T101500.123456Z
nodes:
  description:
    - Online nodes and whether their copy equals the master's after the task (in check mode, as
      found before the task).
  returned: always
  type: dict
  sample: {"c1n1.lab": true, "c1n2.lab": true}
"""

from ansible_collections.ganeti.fleet.plugins.module_utils import _domain_secret as ds
from ansible_collections.ganeti.fleet.plugins.module_utils._node_local import backup_argument_spec, check_backup_options
from ansible_collections.ganeti.fleet.plugins.module_utils.module_base import NodeModule


def run(module):
    params = module.params
    method, generate = params["method"], params["generate"]
    result = module.result
    result.update(cluster_name=module.identity["cluster_name"], master_node=module.identity["master_node"],
                  method=method, generated=False, steps=[], fingerprint=None, previous_fingerprint=None,
                  nodes_out_of_sync=[], nodes={}, backup=None)
    module.require_master()
    check_backup_options(params["backup_dir"], params["backups_kept"])
    state = ds.State(module.run_binary)
    result["previous_fingerprint"] = state.fingerprint
    desired = ds.generate_secret() if generate else params["secret"]
    plan = ds.Plan(state, desired, generated=generate)
    result.update(changed=plan.changed, generated=generate, nodes_out_of_sync=plan.out_of_sync,
                  fingerprint=plan.fingerprint)
    if module._diff and plan.changed:
        total = len(state.nodes)
        result["diff"] = dict(
            before_header=ds.SECRET_FILE, after_header=ds.SECRET_FILE,
            before=ds.diff_text(state.fingerprint, total - len(plan.out_of_sync), total),
            after=ds.diff_text("(new, generated)" if module.check_mode and generate else plan.fingerprint,
                               total, total))
    if module.check_mode:
        result.update(steps=ds.planned_steps(plan, method), fingerprint=None if generate else plan.fingerprint,
                      nodes={node: digest == state.checksum for node, digest in sorted(state.nodes.items())})
    elif not plan.changed:
        result["nodes"] = {node: True for node in sorted(state.nodes)}
    else:
        ds.change(plan, module.run_binary, result, method, params["backup_dir"], params["backups_kept"])


def main():
    NodeModule(argument_spec=dict(
        secret=dict(type="str", no_log=True),
        generate=dict(type="bool", default=False),
        method=dict(type="str", choices=[ds.METHOD_REDISTRIBUTE, ds.METHOD_RENEW_CRYPTO],
                    default=ds.METHOD_REDISTRIBUTE),
        **backup_argument_spec()
    ), mutually_exclusive=[("secret", "generate")]).run(run)


if __name__ == "__main__":
    main()
