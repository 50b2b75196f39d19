"""Ganeti 3.0.2's own move-instance between two stock lab clusters.

On Debian's 3.0.2 with socat >= 1.7.3 the sending side checks the commonName
'ganeti.example.com' against the receiving node's certificate, so every
transfer fails (upstream ganeti/ganeti#1681). The tool then leaves damage: the
source shut down but marked up (ERROR_down), and a destination instance
created, started, with an all-zero disk. This test pins exactly that, so the
contrast is visible once the collection fixes transfers on the lab.
"""

import hashlib
import subprocess

import pytest

from fleetlab import helpers

MOVE_INSTANCE = "/usr/share/ganeti/3.0/move-instance"
NAME = "vm89.lab"
SIZE_MIB = 64
CN_ERROR = 'commonName does not match hostname "ganeti.example.com"'


def _zero_sha256(mib):
    digest = hashlib.sha256()
    block = bytes(1024 * 1024)
    for _ in range(mib):
        digest.update(block)
    return digest.hexdigest()


def test_stock_move_instance_fails_and_leaves_damage(lab):
    if not all(helpers.impexpd_is_stock(lab, node) for c in ("c1", "c2")
               for node in lab.cluster(c)["nodes"]):
        pytest.skip("a transfer fix is applied on the lab; this test needs stock nodes")
    src, dst = lab.cluster("c1"), lab.cluster("c2")
    source_digest = helpers.create_instance(lab, "c1", NAME, size_mib=SIZE_MIB, node="c1n1.lab")
    try:
        proc = subprocess.run(
            [MOVE_INSTANCE, "--opportunistic-tries=0",
             "--src-ca-file", src["ca_file"], "--src-username", src["rapi_user"],
             "--src-password-file", src["rapi_password_file"],
             "--dest-ca-file", dst["ca_file"], "--dest-username", dst["rapi_user"],
             "--dest-password-file", dst["rapi_password_file"],
             "--dest-primary-node", dst["nodes"][0],
             src["master_ip"], dst["master_ip"], NAME],
            capture_output=True, text=True, timeout=900, check=False)
        output = proc.stdout + proc.stderr
        assert proc.returncode != 0, output
        assert "Export failed, errors in disk export" in output
        # The cause is in the source's export job log.
        export_job = lab.gnt("c1", "gnt-job", "list", "--no-headers", "-o", "id,summary").splitlines()
        export_ids = [line.split()[0] for line in export_job if "BACKUP_EXPORT(%s)" % NAME in line]
        assert export_ids
        assert CN_ERROR in lab.gnt("c1", "gnt-job", "info", export_ids[-1])
        # Damage on the source: shut down but still marked up; data intact.
        source = {i["name"]: i for i in helpers.list_instances(lab, "c1")}[NAME]
        assert source["status"] == "ERROR_down"
        assert source["admin_state"] == "up"
        assert helpers.hash_instance_disk(lab, "c1", NAME) == source_digest
        # Damage on the destination: an instance was created and started anyway,
        # with a disk of zeros.
        dest = {i["name"]: i for i in helpers.list_instances(lab, "c2")}
        assert NAME in dest
        assert dest[NAME]["status"] == "running"
        assert helpers.hash_instance_disk(lab, "c2", NAME) == _zero_sha256(SIZE_MIB)
    finally:
        helpers.remove_instance(lab, "c2", NAME)
        helpers.remove_instance(lab, "c1", NAME)
