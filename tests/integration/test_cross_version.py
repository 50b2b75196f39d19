"""Ganeti 3.0 and 3.1 side by side: Debian 12's 3.0.2 (c1) and Debian 13's 3.1.0~rc2 (c2).

The lab is rebuilt with one cluster of each version and a domain secret of
its own each (``tests/lab/README.md``: a 3.1 node runs in a Debian 13 root
filesystem). playbooks/move_readiness.yml with its defaults makes the pair
ready: one domain secret, the transfer fix on the 3.0 nodes only (3.1.0~rc2
carries the upstream fix), a RAPI user and a CA file per cluster; a second run
changes nothing. An instance of 256 MiB of random bytes then moves 3.0 -> 3.1
and back, with each transfer the collection has, its sha256 equal on the node
that holds it after each move, and the move's second run changes nothing. A
merge across the versions, in place or by moves, is refused before anything
changes (Ganeti would not take the merged cluster's nodes); the
node_maintenance role takes a 3.1 node out and back in; and a move-strategy
merge of the 3.0 cluster into the 3.1 one that leaves the 3.0 nodes apart
(cluster_merge_node_handover false) moves every instance with its bytes,
keeps c1 as an empty cluster, and changes nothing on its second run.
"""

import os

import pytest
import requests

import fleetlab
from fleetlab import helpers
from fleettest import REPO, connection, inventory_without, rebuild_lab, run_playbook
from nodelab import changed_count, instances, node_tags, ok, role, run_role, set_role_cli

MIXED = fleetlab.Topology(clusters=2, nodes=2, domain_secret="distinct", versions=["3.0", "3.1"])
READINESS = os.path.join(REPO, "playbooks", "move_readiness.yml")
MOVES = os.path.join(REPO, "playbooks", "move_instances.yml")
MERGE = os.path.join(REPO, "playbooks", "merge_clusters.yml")
SIZE_MIB = 256
FIX_TAG = "ganeti-fleet:transfer-fix"
MAINTENANCE_NAMES = ("vm81.lab", "vm82.lab")


@pytest.fixture(scope="module")
def mixed(session_lab):
    return rebuild_lab(session_lab, MIXED)


@pytest.fixture(scope="module")
def ready(mixed, tmp_path_factory):
    """The pair after move_readiness.yml with its defaults; HOME (for the default CA directory) is the test's."""
    lab = mixed
    directory = tmp_path_factory.mktemp("readiness")
    inventory = inventory_without(lab, directory / "inventory.yml", "ganeti_rapi_user")
    home = directory / "home"
    home.mkdir()
    env = {"HOME": str(home)}
    secrets_before = secret_digests(lab)
    first = run_playbook(READINESS, inventory=inventory, env=env)
    second = run_playbook(READINESS, inventory=inventory, env=env)
    return {"first": first, "second": second, "env": env, "inventory": inventory, "secrets_before": secrets_before,
            "ca_dir": home / ".ganeti-fleet" / "rapi-ca"}


def rapi_info(lab, cluster):
    conn = connection(lab, cluster)
    answer = requests.get(conn["rapi_url"] + "/2/info", auth=(conn["rapi_user"], conn["rapi_password"]),
                          verify=conn["ca_path"], timeout=30)
    answer.raise_for_status()
    return answer.json()


def secret_digests(lab):
    return {node: lab.exec(node, ["sha256sum", "/var/lib/ganeti/cluster-domain-secret"]).stdout.split()[0]
            for cluster in ("c1", "c2") for node in lab.cluster(cluster)["nodes"]}


def fix_backups(lab, node):
    """The transfer fix's backups on NODE, in the role's default directory (private to the node)."""
    directory = os.path.join(lab.lab_dir, "nodes", node, "var-lib-fleet", "transfer-fix")
    return sorted(os.listdir(directory)) if os.path.isdir(directory) else []


def move(lab, ready, name, source, destination, transfer):
    env = dict(ready["env"])
    for prefix, cluster in (("GANETI_SOURCE_RAPI_", source), ("GANETI_DEST_RAPI_", destination)):
        info = lab.cluster(cluster)
        env.update({prefix + "URL": info["rapi_url"], prefix + "USER": "ganeti-fleet",
                    prefix + "PASSWORD": lab.rapi_password(cluster),
                    prefix + "CA_PATH": str(ready["ca_dir"] / (info["name"] + ".pem"))})
    return run_playbook(MOVES, inventory=ready["inventory"], env=env,
                        extra_vars={"move_instances": [name], "move_defaults": {"transfer": transfer}})


def names_on(lab, cluster):
    return {i["name"] for i in helpers.list_instances(lab, cluster)}


def test_each_cluster_runs_its_debian_ganeti(mixed):
    lab = mixed
    old, new = rapi_info(lab, "c1"), rapi_info(lab, "c2")
    assert (old["software_version"], old["protocol_version"]) == ("3.0.2", 3000000)
    assert (new["software_version"], new["protocol_version"]) == ("3.1.0~rc2", 3010000)
    assert lab.exec("c2n2.lab", ["cat", "/etc/debian_version"]).stdout.startswith("13.")
    assert lab.exec("c1n2.lab", ["cat", "/etc/debian_version"]).stdout.startswith("12.")


def test_readiness_makes_the_mixed_pair_ready_and_fixes_only_the_3_0_nodes(mixed, ready):
    lab = mixed
    first, second = ready["first"], ready["second"]
    # Built with a secret per cluster, the pair has one once the first run is through.
    assert len(set(ready["secrets_before"].values())) == 2
    assert first.rc == 0, first.output[-8000:]
    assert changed_count(first) > 0
    assert len(set(secret_digests(lab).values())) == 1
    for node in lab.cluster("c1")["nodes"]:
        assert not helpers.impexpd_is_stock(lab, node), node
        assert fix_backups(lab, node), node
    for node in lab.cluster("c2")["nodes"]:
        assert helpers.impexpd_is_stock(lab, node), node
        assert fix_backups(lab, node) == [], node
    assert FIX_TAG in lab.gnt("c1", "gnt-cluster", "list-tags").split()
    assert FIX_TAG not in lab.gnt("c2", "gnt-cluster", "list-tags").split()
    assert sorted(os.listdir(ready["ca_dir"])) == ["c1.lab.pem", "c2.lab.pem"]
    assert second.rc == 0, second.output[-8000:]
    assert changed_count(second) == 0, second.stats()


@pytest.mark.parametrize("transfer", ["direct", "ganeti"])
def test_256_mib_move_to_3_1_and_back_keeps_every_byte(mixed, ready, transfer):
    lab = mixed
    name = {"direct": "vm51.lab", "ganeti": "vm52.lab"}[transfer]
    digest = helpers.create_instance(lab, "c1", name, size_mib=SIZE_MIB)
    try:
        there = move(lab, ready, name, "c1", "c2", transfer)
        assert there.rc == 0, there.output[-8000:]
        assert name not in names_on(lab, "c1") and name in names_on(lab, "c2")
        assert helpers.hash_instance_disk(lab, "c2", name) == digest
        back = move(lab, ready, name, "c2", "c1", transfer)
        assert back.rc == 0, back.output[-8000:]
        assert name in names_on(lab, "c1") and name not in names_on(lab, "c2")
        assert helpers.hash_instance_disk(lab, "c1", name) == digest
        again = move(lab, ready, name, "c2", "c1", transfer)
        assert again.rc == 0, again.output[-8000:]
        assert changed_count(again) == 0, again.stats()
        assert helpers.hash_instance_disk(lab, "c1", name) == digest
    finally:
        for cluster in ("c1", "c2"):
            helpers.remove_instance(lab, cluster, name)


@pytest.mark.parametrize("strategy, reason", [
    ("in_place", "c2.lab runs Ganeti 3.1.0~rc2 and c1.lab runs 3.0.2: they cannot be merged in place "
                 "(protocol_version 3010000 on the target, 3000000 on the source)"),
    ("move", "c2.lab runs Ganeti 3.1.0~rc2 and c1.lab runs 3.0.2: the instances could move across, but the nodes "
             "of c1.lab cannot join c2.lab afterwards (protocol_version 3010000 on the target, 3000000 on the source"),
])
def test_merge_across_versions_is_refused_before_any_change(mixed, ready, strategy, reason):
    lab = mixed
    helpers.create_instance(lab, "c1", "vm53.lab", size_mib=8, random_bytes=False)
    try:
        before = {c: (helpers.list_instances(lab, c), helpers.list_nodes(lab, c),
                      sorted(lab.gnt(c, "gnt-cluster", "list-tags").split())) for c in ("c1", "c2")}
        refused = run_playbook(MERGE, inventory=lab.state()["inventory"], extra_vars={
            "cluster_merge_target": lab.cluster("c2")["master"],
            "cluster_merge_sources": [lab.cluster("c1")["master"]],
            "cluster_merge_strategy": strategy, "cluster_merge_group_policy": "rename",
            "cluster_merge_verify_ignore_errors": ["ENODESETUP"]})
        assert refused.rc != 0
        assert reason in refused.output, refused.output[-6000:]
        after = {c: (helpers.list_instances(lab, c), helpers.list_nodes(lab, c),
                     sorted(lab.gnt(c, "gnt-cluster", "list-tags").split())) for c in ("c1", "c2")}
        assert after == before
    finally:
        helpers.remove_instance(lab, "c1", "vm53.lab")


def test_node_maintenance_takes_a_3_1_node_out_and_back_in(mixed, tmp_path):
    lab = mixed
    running, stopped = MAINTENANCE_NAMES
    for name, start in ((running, True), (stopped, False)):
        helpers.create_instance(lab, "c2", name, size_mib=8, template="sharedfile", node="c2n2.lab", start=start,
                                memory_mib=64, random_bytes=False)
    try:
        out = ok(run_role(lab, tmp_path, cluster="c2", node="c2n2", state="out"))
        assert changed_count(out) == 3  # tag, drain, evacuation
        assert role(lab, "c2", "c2n2.lab") == "drained"
        found = instances(lab, "c2")
        assert found[running][:2] == ("c2n1.lab", "running")
        assert found[stopped][:2] == ("c2n1.lab", "ADMIN_down")
        assert changed_count(ok(run_role(lab, tmp_path, cluster="c2", node="c2n2", state="out"))) == 0

        back = ok(run_role(lab, tmp_path, cluster="c2", node="c2n2", state="in", rebalance=True))
        assert changed_count(back) == 3  # role, moves back, tag
        assert role(lab, "c2", "c2n2.lab") == "master-candidate"
        assert node_tags(lab, "c2", "c2n2.lab") == []
        found = instances(lab, "c2")
        assert found[running] == ("c2n2.lab", "running", ())
        assert found[stopped] == ("c2n2.lab", "ADMIN_down", ())
        assert changed_count(ok(run_role(lab, tmp_path, cluster="c2", node="c2n2", state="in",
                                         rebalance=True))) == 0
    finally:
        for name in MAINTENANCE_NAMES:
            helpers.remove_instance(lab, "c2", name)
        set_role_cli(lab, "c2", "c2n2.lab", "master-candidate")


def test_move_merge_into_3_1_leaves_the_3_0_nodes_apart_and_a_second_run_changes_nothing(mixed, ready):
    """cluster_merge_node_handover false: c1's instances move into c2, c1 stays with its nodes, emptied."""
    lab = mixed
    merged = {"vm54.lab": True, "vm55.lab": False}
    digests = {name: helpers.create_instance(lab, "c1", name, size_mib=16, start=running)
               for name, running in merged.items()}
    nodes_before = {c: [n["name"] for n in helpers.list_nodes(lab, c)] for c in ("c1", "c2")}
    extra = {"cluster_merge_target": lab.cluster("c2")["master"], "cluster_merge_sources": [lab.cluster("c1")["master"]],
             "cluster_merge_node_handover": False, "cluster_merge_group_policy": "rename",
             "cluster_merge_verify_ignore_errors": ["ENODESETUP"]}
    try:
        first = run_playbook(MERGE, inventory=lab.state()["inventory"], extra_vars=extra)
        assert first.rc == 0, first.output[-8000:]
        found = {i["name"]: i for i in helpers.list_instances(lab, "c2")}
        for name, running in merged.items():
            assert found[name]["status"] == ("running" if running else "ADMIN_down"), found[name]
            assert helpers.hash_instance_disk(lab, "c2", name) == digests[name]
        assert names_on(lab, "c1") == set()
        assert {c: [n["name"] for n in helpers.list_nodes(lab, c)] for c in ("c1", "c2")} == nodes_before
        assert lab.gnt("c1", "gnt-cluster", "getmaster").strip() == "c1n1.lab"
        assert "ganeti-fleet:merged:c1.lab" in lab.gnt("c2", "gnt-cluster", "list-tags").split()

        second = run_playbook(MERGE, inventory=lab.state()["inventory"], extra_vars=extra)
        assert second.rc == 0, second.output[-8000:]
        assert changed_count(second) == 0, second.stats()
    finally:
        for name in merged:
            for cluster in ("c1", "c2"):
                helpers.remove_instance(lab, cluster, name)
