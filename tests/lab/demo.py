#!/usr/bin/env python3
"""The main job on the lab: a real inter-cluster move, with its data verified.

1. bring the lab up (two Ganeti 3.0.2 clusters; packages installed if needed);
2. show both clusters through ganeti.fleet.cluster_info;
3. make the clusters ready for moves with playbooks/move_readiness.yml
   (shared domain secret, the Ganeti 3.0.2 transfer fix, a RAPI user for
   moves, a CA bundle of the clusters' RAPI certificates);
4. create an instance on c1 whose disk holds 256 MiB of random bytes;
5. move it to c2 with playbooks/move_instances.yml and the lab inventory
   (the default transfer, direct: the disk streams from the source's node to
   the destination's over TLS, digested on both ends; the inventory gives the
   move the nodes' SSH access, as users run it with theirs);
6. compare the sha256 of the disk on the destination node with the source's.

The lab stays up afterwards; 'tests/lab/lab down' removes it.
"""

import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))

import fleetlab  # noqa: E402  pylint: disable=wrong-import-position
from fleetlab import helpers  # noqa: E402  pylint: disable=wrong-import-position
from fleettest import _collections_path, rapi_options  # noqa: E402  pylint: disable=wrong-import-position

INSTANCE = "vm01.lab"
MOVE_USER = "mover"
SIZE_MIB = 256


def step(text):
    print("\n=== %s" % text, flush=True)


def playbook(args, env=None):
    cmd = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook")] + args
    full_env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=_collections_path(), ANSIBLE_FORCE_COLOR="0",
                    ANSIBLE_HOST_KEY_CHECKING="False", **(env or {}))
    started = time.monotonic()
    rc = subprocess.call(cmd, env=full_env, cwd=REPO)
    if rc != 0:
        sys.exit("ansible-playbook %s failed (rc=%d)" % (" ".join(args), rc))
    return time.monotonic() - started


def main():
    lab = fleetlab.Lab()
    step("lab up")
    lab.up(fleetlab.Topology())
    state = lab.state()
    fleetlab.enter_network_namespace(state["controller"]["pid"])

    step("both clusters through ganeti.fleet.cluster_info")
    for cluster in ("c1", "c2"):
        opts = rapi_options(lab, cluster)
        out = subprocess.run(
            [os.path.join(os.path.dirname(sys.executable), "ansible"), "localhost", "-m",
             "ganeti.fleet.cluster_info", "-o"],
            env=dict(os.environ, ANSIBLE_COLLECTIONS_PATH=_collections_path(),
                     GANETI_RAPI_URL=opts["rapi_url"], GANETI_RAPI_USER=opts["rapi_user"],
                     GANETI_RAPI_PASSWORD=opts["rapi_password"], GANETI_RAPI_CA_PATH=opts["ca_path"]),
            capture_output=True, text=True, check=True).stdout
        info = json.loads(out.split("=>", 1)[1])
        cluster_info = info["cluster"]
        print("%s: Ganeti %s, master %s, nodes %s" % (
            cluster_info.get("name"), cluster_info.get("software_version"), cluster_info.get("master"),
            ", ".join(lab.cluster(cluster)["nodes"])))

    step("make the clusters ready for moves (playbooks/move_readiness.yml)")
    ca_dir = os.path.join(lab.lab_dir, "controller", "rapi-ca")
    # The role creates MOVE_USER on each cluster with that cluster's own password (the lab
    # inventory's ganeti_rapi_password), connects as it, and writes one CA file per cluster;
    # the RAPI URLs stay the inventory's ganeti_rapi_url.
    playbook([os.path.join(REPO, "playbooks", "move_readiness.yml"), "-i", state["inventory"],
              "-e", json.dumps({"ganeti_rapi_user": MOVE_USER, "move_readiness_ca_dir": ca_dir})])

    step("create %s on c1 with %d MiB of random bytes" % (INSTANCE, SIZE_MIB))
    if INSTANCE in {i["name"] for i in helpers.list_instances(lab, "c1")}:
        helpers.remove_instance(lab, "c1", INSTANCE)
    if INSTANCE in {i["name"] for i in helpers.list_instances(lab, "c2")}:
        helpers.remove_instance(lab, "c2", INSTANCE)
    source_digest = helpers.create_instance(lab, "c1", INSTANCE, size_mib=SIZE_MIB, tags=["demo"])
    print("sha256 on %s: %s" % (helpers.instance_primary_node(lab, "c1", INSTANCE), source_digest))

    step("move %s from c1 to c2 with playbooks/move_instances.yml" % INSTANCE)
    env = {}
    for prefix, cluster in (("GANETI_SOURCE_RAPI_", "c1"), ("GANETI_DEST_RAPI_", "c2")):
        env.update({prefix + "URL": lab.cluster(cluster)["rapi_url"], prefix + "USER": MOVE_USER,
                    prefix + "PASSWORD": lab.rapi_password(cluster),
                    prefix + "CA_PATH": os.path.join(ca_dir, lab.cluster(cluster)["name"] + ".pem")})
    seconds = playbook([os.path.join(REPO, "playbooks", "move_instances.yml"), "-i", state["inventory"],
                        "-e", json.dumps({"move_instances": [INSTANCE]})], env=env)

    step("verify")
    moved = {i["name"]: i for i in helpers.list_instances(lab, "c2")}.get(INSTANCE)
    on_source = INSTANCE in {i["name"] for i in helpers.list_instances(lab, "c1")}
    dest_digest = helpers.hash_instance_disk(lab, "c2", INSTANCE) if moved else None
    print("on c2: %s, status %s, tags %s" % (INSTANCE, moved and moved["status"], moved and moved["tags"]))
    print("sha256 on %s: %s" % (moved and moved["pnode"], dest_digest))
    print("source removed from c1: %s" % (not on_source))
    if dest_digest != source_digest or on_source:
        sys.exit("DEMO FAILED: the data on c2 differs from the source, or the source is still there")
    print("\nOK: %s moved from c1.lab to c2.lab in %.1f s, disk bytes identical." % (INSTANCE, seconds))
    print("The lab stays up: tests/lab/lab status | shell c2n1 | down")


if __name__ == "__main__":
    main()
