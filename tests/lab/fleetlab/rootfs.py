"""Root filesystems for lab nodes that run another Ganeti than the machine's.

The machine (Debian 12) gives the lab Ganeti 3.0.2. A node of another
version runs in a Debian root filesystem built once from the package
registry with mmdebstrap, kept in a cache directory shared by every lab on
the machine, and entered by the node read-only under a writable overlay of
its own (``init.py``), so no node ever writes to it and its state stays in
the node's directory.
"""

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import time

CACHE_DIR_DEFAULT = "/var/cache/ganeti-fleet-lab"
#: Debian suite and packages of each Ganeti version the lab can run besides the machine's.
RELEASES = {
    "3.1": {
        "suite": "trixie",
        "packages": ["ganeti", "socat", "openssh-server", "openssh-client", "iproute2", "curl", "procps",
                     "mount"],
    },
}
MACHINE_VERSION = "3.0"
VERSIONS = (MACHINE_VERSION,) + tuple(sorted(RELEASES))
# Documentation, manual pages and translations are not needed to run Ganeti.
_DPKG_OPTIONS = ["path-exclude=/usr/share/doc/*", "path-include=/usr/share/doc/*/changelog.Debian.gz",
                 "path-exclude=/usr/share/man/*", "path-exclude=/usr/share/locale/*"]


class RootfsError(Exception):
    """A root filesystem could not be built; the message has the builder's output."""


def cache_dir():
    return os.environ.get("GANETI_LAB_ROOTFS_CACHE") or CACHE_DIR_DEFAULT


def _mirror():
    """The Debian mirror the machine's apt uses, so the build goes through the same registry."""
    sources = "/etc/apt/sources.list.d/debian.sources"
    if os.path.exists(sources):
        with open(sources, encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("URIs:"):
                    return line.split()[1]
    with open("/etc/apt/sources.list", encoding="utf-8") as handle:
        for line in handle:
            fields = line.split()
            if fields and fields[0] == "deb":
                return next(f for f in fields[1:] if "://" in f)
    raise RootfsError("no Debian mirror found in the machine's apt sources")


def recipe(version):
    """What a root filesystem of VERSION is built from; its digest names the cached tree."""
    if version not in RELEASES:
        raise RootfsError("no root filesystem for Ganeti %s; versions: %s" % (version, ", ".join(VERSIONS)))
    release = RELEASES[version]
    return {"version": version, "suite": release["suite"], "packages": release["packages"],
            "dpkg_options": _DPKG_OPTIONS, "mirror": _mirror()}


def path_of(version):
    text = json.dumps(recipe(version), sort_keys=True)
    return os.path.join(cache_dir(), "rootfs-%s-%s" % (version, hashlib.sha256(text.encode()).hexdigest()[:12]))


def ensure(version, log=print):
    """The root filesystem of VERSION, built first when the cache does not hold it."""
    path = path_of(version)
    os.makedirs(cache_dir(), exist_ok=True)
    # One build at a time: a lab that needs the tree while another process
    # (scripts/test builds it ahead) is making it waits for that build.
    with open(path + ".lock", "w", encoding="utf-8") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not os.path.isfile(os.path.join(path, ".fleetlab-recipe.json")):
            _build(version, path, log)
    return path


def _build(version, path, log):
    started = time.monotonic()
    _install_builder()
    building = path + ".partial"
    shutil.rmtree(building, ignore_errors=True)
    wanted = recipe(version)
    cmd = ["mmdebstrap", "--mode=unshare", "--variant=apt", "--include=" + ",".join(wanted["packages"]),
           # The registry serves frozen snapshots whose Release files look expired.
           "--aptopt=Acquire::Check-Valid-Until \"false\"", "--aptopt=Acquire::Check-Date \"false\""]
    cmd += ["--dpkgopt=" + option for option in wanted["dpkg_options"]]
    cmd += [wanted["suite"], building, "deb %s %s main" % (wanted["mirror"], wanted["suite"])]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=3600)
    if proc.returncode != 0:
        shutil.rmtree(building, ignore_errors=True)
        raise RootfsError("mmdebstrap of Debian %s for Ganeti %s failed (rc=%d):\n%s" % (
            wanted["suite"], version, proc.returncode, (proc.stdout + proc.stderr)[-3000:]))
    with open(os.path.join(building, ".fleetlab-recipe.json"), "w", encoding="utf-8") as handle:
        json.dump(dict(wanted, build_seconds=round(time.monotonic() - started, 1)), handle, indent=2)
    os.rename(building, path)
    log("root filesystem for Ganeti %s (Debian %s) built in %.0f s: %s" % (
        version, wanted["suite"], time.monotonic() - started, path))


def _install_builder():
    if shutil.which("mmdebstrap"):
        return
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    # Another apt (the lab installing Ganeti) may hold the locks for a while.
    wait = ["-o", "DPkg::Lock::Timeout=600"]
    for cmd in (["apt-get", "update", "-qq"] + wait,
                ["apt-get", "install", "-y", "-qq", "--no-install-recommends"] + wait + ["mmdebstrap"]):
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False, env=env)
        if proc.returncode != 0:
            raise RootfsError("cannot install mmdebstrap (%s):\n%s" % (" ".join(cmd), (proc.stdout + proc.stderr)[-2000:]))
