"""Test and benchmark helpers that act on a running lab through its nodes.

They use the Ganeti command line on the master (the ground truth, not the
collection under test) and read disks directly on the node that holds them.
"""

import filecmp
import json
import os

from .lab import LabError, OS_NAME, impexpd_dir_of
from .rootfs import MACHINE_VERSION


def list_instances(lab, cluster):
    """Instances of CLUSTER as dicts: name, pnode, status, admin state, template, tags, MACs."""
    fields = "name,pnode,snodes,status,admin_state,disk_template,tags,nic.macs,disk.sizes,be/memory"
    out = lab.gnt(cluster, "gnt-instance", "list", "--no-headers", "--separator=|", "-o", fields)
    result = []
    for line in out.splitlines():
        if not line.strip():
            continue
        name, pnode, snodes, status, admin, template, tags, macs, sizes, memory = line.split("|")
        result.append({
            "name": name, "pnode": pnode, "snodes": [s for s in snodes.split(",") if s],
            "status": status, "admin_state": admin, "disk_template": template,
            "tags": sorted(t for t in tags.split(",") if t),
            "macs": [m for m in macs.split(",") if m],
            "disk_sizes": [int(s) for s in sizes.split(",") if s], "memory": memory,
        })
    return result


def list_nodes(lab, cluster):
    """Nodes of CLUSTER as dicts: name, role, master_capable, vm_capable, pinst count."""
    out = lab.gnt(cluster, "gnt-node", "list", "--no-headers", "--separator=|", "-o",
                  "name,role,master_capable,vm_capable,pinst_cnt,sinst_cnt,offline,drained")
    result = []
    for line in out.splitlines():
        if not line.strip():
            continue
        name, role, mcap, vmcap, pinst, sinst, offline, drained = line.split("|")
        result.append({"name": name, "role": role, "master_capable": mcap == "Y",
                        "vm_capable": vmcap == "Y", "pinst_cnt": int(pinst),
                        "sinst_cnt": int(sinst), "offline": offline == "Y",
                        "drained": drained == "Y"})
    return result


def instance_primary_node(lab, cluster, instance):
    out = lab.gnt(cluster, "gnt-instance", "list", "--no-headers", "-o", "pnode", instance).strip()
    if not out:
        raise LabError("instance %s not found on %s" % (instance, cluster))
    return out


def disk_path(lab, cluster, instance, index=0):
    """(node, path) of disk INDEX of INSTANCE, as Ganeti's configuration records it.

    File and sharedfile disks are read from the master's configuration, which
    Ganeti's configuration daemon writes before a modifying job returns: an
    activate-disks job for each would cost over a CPU-second, and a run asks
    hundreds of times. Other disk types still ask Ganeti to activate them.
    """
    config = _master_config(lab, cluster)
    found = _instance_config(config, instance)
    if found is None:
        raise LabError("instance %s not found in the configuration of %s" % (instance, cluster))
    disk_ids = found.get("disks", [])
    if index >= len(disk_ids):
        raise LabError("instance %s on %s has %d disks, no disk/%d" % (instance, cluster, len(disk_ids), index))
    disk = config["disks"][disk_ids[index]]
    if disk.get("dev_type") not in ("file", "sharedfile"):
        return activated_disk_path(lab, cluster, instance, index)
    return config["nodes"][found["primary_node"]]["name"], disk["logical_id"][1]


def activated_disk_path(lab, cluster, instance, index=0):
    """(node, path) of disk INDEX of INSTANCE, from an activate-disks job (marks the disks active)."""
    out = lab.gnt(cluster, "gnt-instance", "activate-disks", instance)
    for line in out.splitlines():
        parts = line.strip().split(":", 2)
        if len(parts) == 3 and parts[1] == "disk/%d" % index:
            return parts[0], parts[2]
    raise LabError("no disk/%d in activate-disks output of %s:\n%s" % (index, instance, out))


def _master_config(lab, cluster):
    path = os.path.join(lab.lab_dir, "nodes", lab.cluster(cluster)["master"], "var-lib-ganeti", "config.data")
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def _instance_config(config, instance):
    for candidate in config["instances"].values():
        if candidate["name"] == instance:
            return candidate
    return None


def hash_instance_disk(lab, cluster, instance, index=0):
    """sha256 of disk INDEX of INSTANCE, read on the node that holds it."""
    node, path = disk_path(lab, cluster, instance, index)
    out = lab.exec(node, ["sha256sum", path]).stdout
    return out.split()[0]


def create_instance(lab, cluster, name, size_mib=256, template="file", node=None, start=True,
                    memory_mib=128, tags=(), random_bytes=True, nics=1):
    """Create INSTANCE with a disk full of random bytes; return its disk's sha256.

    The disk is filled on its node with bytes from the kernel's random
    generator, and hashed there, before the instance is started.
    """
    args = ["gnt-instance", "add", "-t", template, "-o", OS_NAME, "--disk", "0:size=%dM" % size_mib,
            "-B", "memory=%dM" % memory_mib, "--no-name-check", "--no-ip-check", "--no-start",
            "--no-install"]
    if nics == 0:
        args.append("--no-nics")
    if node:
        args += ["-n", node]
    else:
        args += ["-I", "hail"]
    lab.gnt(cluster, *(args + [name]))
    if tags:
        lab.gnt(cluster, "gnt-instance", "add-tags", name, *tags)
    digest = None
    if random_bytes:
        holder, path = disk_path(lab, cluster, name)
        script = ("head -c %d /dev/urandom | dd of=%s bs=1M iflag=fullblock conv=notrunc status=none"
                  " && sync %s && sha256sum %s" % (size_mib * 1024 * 1024, path, path, path))
        digest = lab.exec(holder, ["sh", "-ec", script]).stdout.split()[0]
    if start:
        lab.gnt(cluster, "gnt-instance", "startup", name)
    return digest


def remove_instance(lab, cluster, name):
    lab.gnt(cluster, "gnt-instance", "remove", "--force", "--shutdown-timeout=0", name, check=False)


def cluster_verify(lab, cluster):
    """Return (rc, output) of 'gnt-cluster verify' on CLUSTER's master."""
    proc = lab.exec(lab.cluster(cluster)["master"], ["gnt-cluster", "verify"], check=False)
    return proc.returncode, proc.stdout + proc.stderr


def impexpd_is_stock(lab, node):
    """True when NODE's private impexpd equals the one Debian installed for its Ganeti version."""
    private = os.path.join(lab.lab_dir, "nodes", node, "impexpd")
    stock = stock_impexpd_dir(lab, node)
    names = sorted(n for n in os.listdir(stock) if n != "__pycache__")
    if sorted(n for n in os.listdir(private) if n != "__pycache__") != names:
        return False
    _, mismatch, errors = filecmp.cmpfiles(stock, private, names, shallow=False)
    return not mismatch and not errors


def stock_impexpd_dir(lab, node):
    """Debian's impexpd package directory for NODE's Ganeti version, as the machine sees it."""
    state = lab.state()
    version = next(c.get("version", MACHINE_VERSION) for c in state["clusters"] if node in c["nodes"])
    system = state.get("roots", {}).get(version, "/")
    return os.path.join(system, impexpd_dir_of(version).lstrip("/"))
