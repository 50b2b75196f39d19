"""Real Ganeti 3.0 clusters on one machine, in Linux namespaces.

Every lab host (the bridge, the controller, each Ganeti node) is a set of
namespaces (mount, UTS, network, PID) kept alive by ``init.py`` as PID 1.
Nothing is created in the machine's own network namespace: the lab bridge
lives in a namespace of its own, and each veth pair is created there with
its peer put straight into the host's namespace. Node mounts are made inside
the node's private mount namespace, so they vanish with it.
"""

import concurrent.futures
import contextlib
import ctypes
import hashlib
import ipaddress
import json
import os
import secrets
import shutil
import signal
import subprocess
import time

from . import rootfs

LAB_DIR_DEFAULT = "/var/tmp/ganeti-fleet-lab"
SUBNET = ipaddress.ip_network("198.18.0.0/24")
CONTROLLER_IP = "198.18.0.2"
INSTANCE_NAME_POOL = 90          # vm01.lab .. vm90.lab, resolvable on every host
VERSIONS = rootfs.VERSIONS
#: The directory the collection writes on nodes by default (mounted privately on each lab node).
FLEET_NODE_DIR = "/var/lib/ganeti-fleet"
APT_PACKAGES = ["ganeti", "socat", "openssh-server", "openssh-client", "iproute2", "curl"]
RAPI_USER = "fleet"
OS_NAME = "lab-dd"
NODE_BRIDGE = "gnt-br0"
IPOLICY_BOUNDS = ("min:cpu-count=1,disk-count=0,disk-size=1,memory-size=16,nic-count=0,spindle-use=0"
                  "/max:cpu-count=8,disk-count=16,disk-size=1048576,memory-size=65536,nic-count=8,"
                  "spindle-use=12")
MARKER = "ganeti-fleet-lab"
HERE = os.path.dirname(os.path.abspath(__file__))
CLEAN_ENV = {
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "HOME": "/root",
    "LANG": "C.UTF-8",
}


class LabError(Exception):
    """A lab operation failed; the message says which host and command."""


def _run(cmd, check=True, capture=True, env=None, input_text=None, timeout=600, pass_fds=()):
    proc = subprocess.run(cmd, check=False, text=True, env=env or CLEAN_ENV, pass_fds=pass_fds,
                          input=input_text, timeout=timeout,
                          stdout=subprocess.PIPE if capture else None,
                          stderr=subprocess.PIPE if capture else None)
    if check and proc.returncode != 0:
        raise LabError("command %s failed (rc=%s):\n%s%s" % (
            " ".join(cmd), proc.returncode, proc.stdout or "", proc.stderr or ""))
    return proc


def install_packages():
    """Install Ganeti and its helpers from Debian, once, with no services started."""
    missing = [pkg for pkg in APT_PACKAGES
               if subprocess.run(["dpkg-query", "-W", "-f=${Status}", pkg], capture_output=True,
                                 text=True, check=False).stdout != "install ok installed"]
    if not missing:
        return []
    policy = "/usr/sbin/policy-rc.d"
    added_policy = not os.path.exists(policy)
    if added_policy:
        # Keep Debian's maintainer scripts from starting daemons on the machine.
        with open(policy, "w", encoding="utf-8") as handle:
            handle.write("#!/bin/sh\nexit 101\n")
        os.chmod(policy, 0o755)
    try:
        env = dict(CLEAN_ENV, DEBIAN_FRONTEND="noninteractive")
        _run(["apt-get", "update", "-qq"], env=env)
        _run(["apt-get", "install", "-y", "-qq", "--no-install-recommends"] + missing, env=env)
    finally:
        if added_policy:
            os.unlink(policy)
    return missing


class Topology:
    """What to bring up: N clusters of M nodes, their Ganeti versions and security options.

    VERSIONS gives each cluster's Ganeti version (default: the machine's,
    3.0, for all); a version other than the machine's runs in a Debian root
    filesystem of its own (``rootfs``).
    """

    def __init__(self, clusters=2, nodes=2, domain_secret="shared", rapi_cert="cluster-name", versions=None):
        if not 1 <= clusters <= 8 or not 1 <= nodes <= 8:
            raise LabError("clusters and nodes must each be between 1 and 8")
        versions = list(versions or [rootfs.MACHINE_VERSION] * clusters)
        if len(versions) != clusters or not set(versions) <= set(VERSIONS):
            raise LabError("versions must name one Ganeti version per cluster (%d), each one of %s; got %s"
                           % (clusters, ", ".join(VERSIONS), ",".join(versions)))
        if domain_secret not in ("shared", "distinct"):
            raise LabError("domain_secret must be 'shared' or 'distinct'")
        if rapi_cert not in ("cluster-name", "stock"):
            raise LabError("rapi_cert must be 'cluster-name' or 'stock'")
        self.clusters = clusters
        self.nodes = nodes
        self.domain_secret = domain_secret
        self.rapi_cert = rapi_cert
        self.versions = versions

    def as_dict(self):
        return {"clusters": self.clusters, "nodes": self.nodes,
                "domain_secret": self.domain_secret, "rapi_cert": self.rapi_cert, "versions": self.versions}

    def cluster_specs(self):
        specs = []
        for index in range(1, self.clusters + 1):
            base = 10 * index
            name = "c%d.lab" % index
            nodes = [{"name": "c%dn%d.lab" % (index, j), "short": "c%dn%d" % (index, j),
                      "ip": str(SUBNET[base + j])} for j in range(1, self.nodes + 1)]
            specs.append({"name": name, "short": "c%d" % index, "master_ip": str(SUBNET[base]),
                          "nodes": nodes, "version": self.versions[index - 1]})
        return specs


def impexpd_dir_of(version):
    """Where Ganeti VERSION keeps its import/export daemon's package (private per lab node)."""
    return "/usr/share/ganeti/%s/ganeti/impexpd" % version


#: The machine's own Ganeti's (3.0) import/export daemon package.
IMPEXPD_DIR = impexpd_dir_of(rootfs.MACHINE_VERSION)


def instance_names():
    return ["vm%02d.lab" % i for i in range(1, INSTANCE_NAME_POOL + 1)]


def _instance_ip(index):
    return str(SUBNET[100 + index])


def hosts_file_text(specs):
    lines = ["127.0.0.1 localhost", "::1 localhost ip6-localhost ip6-loopback",
             "%s controller.lab controller" % CONTROLLER_IP]
    for cluster in specs:
        lines.append("%s %s %s" % (cluster["master_ip"], cluster["name"], cluster["short"]))
        for node in cluster["nodes"]:
            lines.append("%s %s %s" % (node["ip"], node["name"], node["short"]))
    for index, name in enumerate(instance_names(), start=1):
        lines.append("%s %s" % (_instance_ip(index), name))
    return "\n".join(lines) + "\n"


# --- namespaces -------------------------------------------------------------

_libc = ctypes.CDLL(None, use_errno=True)
CLONE_NEWNET = 0x40000000


def _children(pid):
    try:
        with open("/proc/%d/task/%d/children" % (pid, pid), encoding="ascii") as handle:
            return [int(p) for p in handle.read().split()]
    except OSError:
        return []


def _parent(pid):
    try:
        with open("/proc/%d/stat" % pid, encoding="ascii", errors="replace") as handle:
            # The command name may hold spaces and parentheses; the PPID follows the last ")".
            return int(handle.read().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return 0


def _is_our_init(pid, lab_dir):
    """True when PID is a lab init of this lab directory (never touch anything else)."""
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as handle:
            args = handle.read().split(b"\0")
    except OSError:
        return False
    text = [a.decode("utf-8", "replace") for a in args]
    return any(a.endswith("fleetlab/init.py") for a in text) and any(
        a.startswith(os.path.join(lab_dir, "")) for a in text)


def start_host(lab_dir, name, hostname, mounts, mkdirs=(), root=None):
    """Start a namespace host; returns the PID (in our PID namespace) of its init.

    ROOT, when given, is the overlay of another root filesystem the host runs in (see init.py).
    """
    host_dir = os.path.join(lab_dir, "hosts", name)
    os.makedirs(host_dir, exist_ok=True)
    ready = os.path.join(host_dir, "ready")
    if os.path.exists(ready):
        os.unlink(ready)
    spec_path = os.path.join(host_dir, "init.json")
    with open(spec_path, "w", encoding="utf-8") as handle:
        json.dump({"hostname": hostname, "mounts": mounts, "mkdirs": list(mkdirs),
                   "ready": ready, "root": root}, handle)
    log = open(os.path.join(host_dir, "init.log"), "ab")  # pylint: disable=consider-using-with
    proc = subprocess.Popen(  # pylint: disable=consider-using-with
        ["unshare", "--mount", "--uts", "--net", "--pid", "--ipc", "--fork", "--mount-proc",
         "--propagation", "private", "/usr/bin/python3", os.path.join(HERE, "init.py"), spec_path],
        stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True, env=CLEAN_ENV)
    log.close()
    deadline = time.monotonic() + 20
    while not os.path.exists(ready):
        if proc.poll() is not None:
            with open(os.path.join(host_dir, "init.log"), encoding="utf-8", errors="replace") as handle:
                raise LabError("host %s failed to start:\n%s" % (name, handle.read()[-2000:]))
        if time.monotonic() > deadline:
            raise LabError("host %s did not become ready" % name)
        time.sleep(0.02)
    children = _children(proc.pid)
    if len(children) != 1:
        raise LabError("host %s: cannot find its init process" % name)
    return children[0]


def nsexec(pid, cmd, check=True, capture=True, input_text=None, timeout=600, env=None, cwd="/"):
    """Run CMD inside every namespace of the lab host whose init is PID."""
    full = ["nsenter", "--target", str(pid), "--mount", "--uts", "--ipc", "--net", "--pid",
            "--wd=%s" % cwd] + list(cmd)
    return _run(full, check=check, capture=capture, input_text=input_text, timeout=timeout,
                env=dict(CLEAN_ENV, **(env or {})))


_machine_netns_fd = None


def enter_network_namespace(pid):
    """Move the calling process into the network namespace of lab host PID.

    Used by the test suite so that its own RAPI clients (and every
    ansible-playbook it spawns) reach the lab. The machine's own namespace
    stays reachable through run_in_machine_network().
    """
    global _machine_netns_fd  # pylint: disable=global-statement
    if _machine_netns_fd is None:
        _machine_netns_fd = os.open("/proc/self/ns/net", os.O_RDONLY)
    fd = os.open("/proc/%d/ns/net" % pid, os.O_RDONLY)
    try:
        if _libc.setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise LabError("setns into the lab network failed: %s" % os.strerror(err))
    finally:
        os.close(fd)


def run_in_machine_network(cmd):
    """Run CMD in the network namespace the process had before joining the lab."""
    if _machine_netns_fd is None:
        return _run(cmd)
    return _run(["nsenter", "--net=/proc/self/fd/%d" % _machine_netns_fd] + list(cmd),
                pass_fds=(_machine_netns_fd,))


# --- the lab ----------------------------------------------------------------

class Lab:
    """A lab rooted at LAB_DIR; its state is LAB_DIR/lab.json once up."""

    def __init__(self, lab_dir=None):
        self.lab_dir = os.path.abspath(lab_dir or os.environ.get("GANETI_LAB_DIR") or LAB_DIR_DEFAULT)
        self.state_path = os.path.join(self.lab_dir, "lab.json")

    # state
    def state(self):
        try:
            with open(self.state_path, encoding="utf-8") as handle:
                return json.load(handle)
        except FileNotFoundError:
            return None

    def _write_state(self, state):
        tmp = self.state_path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as handle:
            json.dump(state, handle, indent=2, sort_keys=True)
        os.replace(tmp, self.state_path)

    def is_running(self):
        state = self.state()
        if not state or not state.get("complete"):
            return False
        return all(_is_our_init(h["pid"], self.lab_dir) for h in state["hosts"].values())

    def host_pid(self, name):
        state = self.state()
        if not state:
            raise LabError("the lab is not up (no %s)" % self.state_path)
        for key, host in state["hosts"].items():
            if name in (key, host.get("hostname"), host.get("short")):
                return host["pid"]
        raise LabError("no lab host named %r; hosts: %s" % (name, ", ".join(sorted(state["hosts"]))))

    def exec(self, host, cmd, **kwargs):
        return nsexec(self.host_pid(host), cmd, **kwargs)

    # up / down
    def up(self, topology=None, log=print):
        """Bring the lab up; a no-op when the same topology is already up."""
        topology = topology or Topology()
        state = self.state()
        if state and state.get("complete") and self.is_running():
            if state["topology"] == topology.as_dict():
                log("lab already up (%s)" % self.state_path)
                return state
            log("lab up with another topology; taking it down first")
        if state:
            self.down(log=log, keep_snapshots=True)
        snapshot = self._snapshot_path(topology)
        if os.path.isfile(os.path.join(snapshot, "lab.json")):
            return self._restore(snapshot, log)
        started = time.monotonic()
        installed = install_packages()
        if installed:
            log("installed %s in %.1f s" % (" ".join(installed), time.monotonic() - started))
        os.makedirs(self.lab_dir, exist_ok=True)
        os.chmod(self.lab_dir, 0o755)
        specs = topology.cluster_specs()
        state = {"lab_dir": self.lab_dir, "topology": topology.as_dict(), "hosts": {},
                 "clusters": [], "complete": False, "subnet": str(SUBNET)}
        self._write_state(state)
        hosts_path = os.path.join(self.lab_dir, "hosts.txt")
        with open(hosts_path, "w", encoding="utf-8") as handle:
            handle.write(hosts_file_text(specs))
        # Bridge and controller.
        bridge_pid = start_host(self.lab_dir, "bridge", "bridge.lab", [])
        state["hosts"]["bridge"] = {"pid": bridge_pid, "hostname": "bridge.lab", "short": "bridge"}
        self._write_state(state)
        _start_bridge(bridge_pid)
        ctl_dir = os.path.join(self.lab_dir, "controller")
        os.makedirs(ctl_dir, exist_ok=True)
        key = os.path.join(ctl_dir, "id_ed25519")
        if not os.path.exists(key):
            _run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "controller@lab", "-f", key])
        ctl_pid = start_host(self.lab_dir, "controller", "controller.lab",
                             [["none", "/sys", "sysfs"], [hosts_path, "/etc/hosts", "bind"]])
        state["hosts"]["controller"] = {"pid": ctl_pid, "hostname": "controller.lab",
                                        "short": "controller", "ip": CONTROLLER_IP}
        self._write_state(state)
        self._wire(bridge_pid, ctl_pid, "v-ctl", CONTROLLER_IP)
        roots = {version: rootfs.ensure(version, log=log)
                 for version in sorted(set(topology.versions)) if version != rootfs.MACHINE_VERSION}
        state["roots"] = roots
        # Nodes: start them all, then build the clusters in parallel.
        with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
            futures = []
            for cluster in specs:
                for node in cluster["nodes"]:
                    futures.append(pool.submit(self._prepare_node, cluster, node, hosts_path, key,
                                               roots.get(cluster["version"])))
            for future in futures:
                pid, node = future.result()
                state["hosts"][node["name"]] = {"pid": pid, "hostname": node["name"],
                                                "short": node["short"], "ip": node["ip"]}
            self._write_state(state)
            for cluster in specs:
                for node in cluster["nodes"]:
                    self._wire(bridge_pid, state["hosts"][node["name"]]["pid"],
                               "v-" + node["short"], node["ip"], node_bridge=True)
            secret = secrets.token_hex(20)
            futures = [pool.submit(self._build_cluster, state, cluster,
                                   secret if topology.domain_secret == "shared" else secrets.token_hex(20),
                                   topology.rapi_cert)
                       for cluster in specs]
            state["clusters"] = [f.result() for f in futures]
        state["inventory"] = self._write_inventory(state, key)
        state["controller"] = {"ip": CONTROLLER_IP, "ssh_key": key,
                               "pid": state["hosts"]["controller"]["pid"]}
        state["instance_names"] = instance_names()
        state["complete"] = True
        state["up_seconds"] = round(time.monotonic() - started, 1)
        state["from_snapshot"] = False
        self._write_state(state)
        self._take_snapshot(snapshot)
        log("lab up in %.1f s: %s" % (time.monotonic() - started,
                                       ", ".join(c["name"] for c in state["clusters"])))
        return state

    # snapshots: a topology built once in this lab directory comes back from a copy
    def _snapshot_path(self, topology):
        key = hashlib.sha256(json.dumps(topology.as_dict(), sort_keys=True).encode()).hexdigest()[:16]
        return os.path.join(self.lab_dir + ".snapshots", key)

    def _take_snapshot(self, path):
        """Copy the lab as just built (idle clusters, no instance) for a later up() of its topology."""
        partial = path + ".partial"
        shutil.rmtree(partial, ignore_errors=True)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        # cp keeps the owners and modes Ganeti's ensure-dirs checks; copytree would not.
        _run(["cp", "-a", self.lab_dir, partial])
        # The build's SSH control sockets belong to hosts that will not exist then.
        sockets = os.path.join(partial, "ssh")
        shutil.rmtree(sockets)
        os.makedirs(sockets, mode=0o700)
        shutil.rmtree(path, ignore_errors=True)
        os.rename(partial, path)

    def _restore(self, snapshot, log):
        """Bring the lab up from SNAPSHOT: its files back, hosts restarted, wired, Ganeti started."""
        started = time.monotonic()
        _run(["cp", "-a", snapshot, self.lab_dir])
        state = self.state()
        state["complete"] = False
        for name in ["bridge", "controller"] + [n for c in state["clusters"] for n in c["nodes"]]:
            with open(os.path.join(self.lab_dir, "hosts", name, "init.json"), encoding="utf-8") as handle:
                spec = json.load(handle)
            state["hosts"][name]["pid"] = start_host(self.lab_dir, name, spec["hostname"], spec["mounts"],
                                                     spec.get("mkdirs", ()), root=spec.get("root"))
        state["controller"]["pid"] = state["hosts"]["controller"]["pid"]
        self._write_state(state)
        bridge_pid = state["hosts"]["bridge"]["pid"]
        _start_bridge(bridge_pid)
        self._wire(bridge_pid, state["controller"]["pid"], "v-ctl", CONTROLLER_IP)
        for cluster in state["clusters"]:
            for node in cluster["nodes"]:
                host = state["hosts"][node]
                self._wire(bridge_pid, host["pid"], "v-" + host["short"], host["ip"], node_bridge=True)
        with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
            for future in [pool.submit(self._start_cluster, state, c) for c in state["clusters"]]:
                future.result()
        state["complete"] = True
        state["from_snapshot"] = True
        state["up_seconds"] = round(time.monotonic() - started, 1)
        self._write_state(state)
        log("lab up from its snapshot in %.1f s: %s" % (time.monotonic() - started,
                                                         ", ".join(c["name"] for c in state["clusters"])))
        return state

    def _start_cluster(self, state, cluster):
        pids = {node: state["hosts"][node]["pid"] for node in cluster["nodes"]}
        for pid in pids.values():
            nsexec(pid, ["/usr/sbin/sshd"])
        # A master's daemons ask the other nodes whether it is still the
        # master before they start: those nodes' daemons come first.
        others = [node for node in cluster["nodes"] if node != cluster["master"]]
        for node in others + [cluster["master"]]:
            nsexec(pids[node], ["/usr/lib/ganeti/daemon-util", "start-all"])
        controller = state["controller"]["pid"]
        # Any HTTP answer will do: with authentication required, even /version is a 401.
        url = "https://%s:5080/version" % cluster["master_ip"]
        deadline = time.monotonic() + 60
        while nsexec(controller, ["curl", "-sk", "--max-time", "2", "-o", "/dev/null", url],
                     check=False).returncode != 0:
            if time.monotonic() > deadline:
                raise LabError("RAPI of %s restored from a snapshot does not answer at %s" % (cluster["name"], url))
            time.sleep(0.2)

    def _wire(self, bridge_pid, host_pid, veth, ip, node_bridge=False):
        # Only the network namespace is entered: HOST_PID must be read in our
        # own PID namespace. The peer goes straight into the host's namespace.
        _run(["nsenter", "--target", str(bridge_pid), "--net", "sh", "-ec",
              "ip link add %s type veth peer name eth0 netns %d; ip link set %s master br0 up"
              % (veth, host_pid, veth)])
        script = ("ip link set lo up; ip addr add %s/%d dev eth0; ip link set eth0 up"
                  % (ip, SUBNET.prefixlen))
        if node_bridge:
            # Instance NICs are bridged; the fake hypervisor only checks it exists.
            script += "; ip link add %s type bridge; ip link set %s up" % (NODE_BRIDGE, NODE_BRIDGE)
        nsexec(host_pid, ["sh", "-ec", script])

    def _prepare_node(self, cluster, node, hosts_path, controller_key, system_root=None):
        """Start NODE with its private files; SYSTEM_ROOT is its root filesystem when not the machine's."""
        root = os.path.join(self.lab_dir, "nodes", node["name"])
        if os.path.exists(root):
            shutil.rmtree(root)
        paths = {k: os.path.join(root, k) for k in (
            "etc-ganeti", "etc-ssh", "var-lib-ganeti", "var-lib-fleet", "var-log-ganeti", "srv", "root",
            "impexpd")}
        system = system_root or "/"
        impexpd_dir = impexpd_dir_of(cluster["version"])
        shutil.copytree(os.path.join(system, "etc/ganeti"), paths["etc-ganeti"], symlinks=True)
        shutil.copytree(os.path.join(system, "etc/ssh"), paths["etc-ssh"], symlinks=True,
                        ignore=shutil.ignore_patterns("ssh_host_*"))
        shutil.copytree(os.path.join(system, impexpd_dir.lstrip("/")), paths["impexpd"], symlinks=True,
                        ignore=shutil.ignore_patterns("__pycache__"))
        for key in ("var-lib-ganeti", "var-lib-fleet", "var-log-ganeti", "root"):
            os.makedirs(paths[key], exist_ok=True)
        # The collection's own directory on nodes (backups, transfer fix):
        # private to each node like Ganeti's, at the documented default path.
        os.makedirs(FLEET_NODE_DIR, exist_ok=True)
        os.chmod(paths["root"], 0o700)
        # Host keys for this node only (ssh-keygen -A writes under PREFIX/etc/ssh).
        keygen_prefix = os.path.join(root, "keygen")
        os.makedirs(os.path.join(keygen_prefix, "etc", "ssh"), exist_ok=True)
        _run(["ssh-keygen", "-A", "-f", keygen_prefix])
        for entry in os.listdir(os.path.join(keygen_prefix, "etc", "ssh")):
            shutil.move(os.path.join(keygen_prefix, "etc", "ssh", entry), paths["etc-ssh"])
        shutil.rmtree(keygen_prefix)
        sshd_options = "UseDNS no\nPermitRootLogin prohibit-password\nUsePAM no\n"
        if system_root:
            # OpenSSH 9.8 and later shut out, for a while, an address whose
            # connections close before authenticating; lab nodes all talk to
            # each other and to the controller from a few addresses.
            sshd_options += "PerSourcePenalties no\n"
        with open(os.path.join(paths["etc-ssh"], "sshd_config.d", "lab.conf"), "w",
                  encoding="utf-8") as handle:
            handle.write(sshd_options)
        # Root's SSH: the node's own RSA key (Ganeti uses RSA here) and the
        # controller's key authorised.
        ssh_dir = os.path.join(paths["root"], ".ssh")
        os.makedirs(ssh_dir, mode=0o700, exist_ok=True)
        _run(["ssh-keygen", "-q", "-t", "rsa", "-b", "2048", "-N", "", "-C",
              "root@" + node["name"], "-f", os.path.join(ssh_dir, "id_rsa")])
        with open(controller_key + ".pub", encoding="utf-8") as handle:
            controller_pub = handle.read()
        with open(os.path.join(ssh_dir, "authorized_keys"), "w", encoding="utf-8") as handle:
            handle.write(controller_pub)
        os.chmod(os.path.join(ssh_dir, "authorized_keys"), 0o600)
        # Ganeti directories and files private to this node.
        srv = os.path.join(paths["srv"], "ganeti")
        for sub in ("file-storage", "shared-file-storage", "os", "export"):
            os.makedirs(os.path.join(srv, sub), exist_ok=True)
        shutil.copytree(os.path.join(HERE, "..", "files", "os", OS_NAME), os.path.join(srv, "os", OS_NAME))
        shared = os.path.join(self.lab_dir, "clusters", cluster["short"], "shared-file-storage")
        os.makedirs(shared, exist_ok=True)
        with open(os.path.join(paths["etc-ganeti"], "file-storage-paths"), "w", encoding="utf-8") as handle:
            handle.write("/srv/ganeti/file-storage\n/srv/ganeti/shared-file-storage\n")
        defaults = os.path.join(root, "default-ganeti")
        with open(os.path.join(system, "etc/default/ganeti"), encoding="utf-8") as handle:
            text = handle.read()
        # Debian binds RAPI to 127.0.0.1; the lab serves it on the master IP.
        text = "\n".join('RAPI_ARGS="--require-authentication"' if line.startswith("RAPI_ARGS=")
                         else line for line in text.splitlines()) + "\n"
        with open(defaults, "w", encoding="utf-8") as handle:
            handle.write(text)
        mounts = [
            ["none", "/sys", "sysfs"],
            ["none", "/run", "tmpfs"],
            [hosts_path, "/etc/hosts", "bind"],
            [paths["etc-ganeti"], "/etc/ganeti", "bind"],
            [defaults, "/etc/default/ganeti", "bind"],
            [paths["etc-ssh"], "/etc/ssh", "bind"],
            [paths["var-lib-ganeti"], "/var/lib/ganeti", "bind"],
            [paths["var-lib-fleet"], FLEET_NODE_DIR, "bind"],
            [paths["var-log-ganeti"], "/var/log/ganeti", "bind"],
            [paths["srv"], "/srv", "bind"],
            [shared, "/srv/ganeti/shared-file-storage", "bind"],
            [paths["root"], "/root", "bind"],
            [paths["impexpd"], impexpd_dir, "bind"],
        ]
        overlay = None
        if system_root:
            overlay = {"lower": system_root, "upper": os.path.join(root, "system-changes"),
                       "work": os.path.join(root, "system-work"), "merged": os.path.join(root, "system")}
            for directory in (overlay["upper"], overlay["work"], overlay["merged"]):
                os.makedirs(directory)
            # Mount points the root filesystem lacks are made in the node's own layer.
            for source, target, _ in mounts:
                if not os.path.lexists(os.path.join(system_root, target.lstrip("/"))):
                    made = os.path.join(overlay["upper"], target.lstrip("/"))
                    if os.path.isdir(source) or source == "none":
                        os.makedirs(made, exist_ok=True)
                    else:
                        os.makedirs(os.path.dirname(made), exist_ok=True)
                        open(made, "a", encoding="utf-8").close()  # pylint: disable=consider-using-with
        pid = start_host(self.lab_dir, node["name"], node["name"], mounts,
                         mkdirs=["/run/sshd", "/run/lock", "/run/ganeti"], root=overlay)
        return pid, node

    def _build_cluster(self, state, cluster, domain_secret, rapi_cert):
        nodes = cluster["nodes"]
        master = nodes[0]
        pids = {n["name"]: state["hosts"][n["name"]]["pid"] for n in nodes}
        cluster_dir = os.path.join(self.lab_dir, "clusters", cluster["short"])
        os.makedirs(cluster_dir, exist_ok=True)
        for node in nodes:
            nsexec(pids[node["name"]], ["/usr/sbin/sshd"])
        master_root = os.path.join(self.lab_dir, "nodes", master["name"])
        var_lib = os.path.join(master_root, "var-lib-ganeti")
        master_pid = pids[master["name"]]
        nsexec(master_pid, [
            "gnt-cluster", "init", "--enabled-hypervisors=fake",
            "--enabled-disk-templates=file,sharedfile,diskless",
            "--file-storage-dir=/srv/ganeti/file-storage",
            "--shared-file-storage-dir=/srv/ganeti/shared-file-storage",
            "--master-netdev=eth0", "--master-netmask=%d" % SUBNET.prefixlen,
            "--nic-parameters=mode=bridged,link=%s" % NODE_BRIDGE,
            "--ipolicy-bounds-specs=%s" % IPOLICY_BOUNDS,
            "--no-etc-hosts", "--ssh-key-type=rsa", "--ssh-key-bits=2048",
            "--mac-prefix=aa:%02x:00" % (int(cluster["short"][1:]),),
            cluster["name"]])
        # 'gnt-cluster init' refuses a pre-filled /var/lib/ganeti, so the lab's
        # secret and certificate replace the generated ones before any node
        # joins (node add copies them). Owners as Ganeti's ensure-dirs wants
        # them, by the node's own user names: a node in another root
        # filesystem has other user IDs than the machine.
        system = state["roots"].get(cluster["version"], "/")
        _write_private(os.path.join(var_lib, "cluster-domain-secret"), domain_secret + "\n", 0o640,
                       owner=_ids_in(system, "gnt-masterd", "gnt-masterd"))
        if rapi_cert == "cluster-name":
            _write_private(os.path.join(var_lib, "rapi.pem"),
                           _self_signed_pem(cluster["name"], cluster["master_ip"]), 0o440,
                           owner=_ids_in(system, "gnt-rapi", "gnt-masterd"))
            nsexec(master_pid, ["sh", "-ec", "/usr/lib/ganeti/daemon-util stop ganeti-rapi;"
                                " /usr/lib/ganeti/daemon-util start ganeti-rapi"])
        password = secrets.token_urlsafe(18)
        users = os.path.join(var_lib, "rapi", "users")
        _write_private(users, "%s %s write\n" % (RAPI_USER, password), 0o640,
                       owner=_ids_in(system, "gnt-rapi", "gnt-masterd"))
        password_file = os.path.join(cluster_dir, "rapi-password")
        _write_private(password_file, password + "\n", 0o600)
        # 'gnt-cluster init' makes the master a new root key: authorise that one.
        with open(os.path.join(master_root, "root", ".ssh", "id_rsa.pub"), encoding="utf-8") as handle:
            master_pub = handle.read()
        for node in nodes[1:]:
            path = os.path.join(self.lab_dir, "nodes", node["name"], "root", ".ssh", "authorized_keys")
            with open(path, "a", encoding="utf-8") as handle:
                handle.write(master_pub)
            nsexec(master_pid, ["gnt-node", "add", "--no-ssh-key-check", node["name"]])
        ca_file = os.path.join(cluster_dir, "rapi-ca.pem")
        with open(os.path.join(var_lib, "rapi.pem"), encoding="utf-8") as handle:
            _write_private(ca_file, _certificates_only(handle.read()), 0o644)
        return {
            "name": cluster["name"], "short": cluster["short"], "master": master["name"],
            "master_ip": cluster["master_ip"],
            "rapi_url": "https://%s:5080" % cluster["master_ip"],
            "rapi_host": cluster["name"], "rapi_user": RAPI_USER,
            "rapi_password_file": password_file, "ca_file": ca_file, "rapi_cert": rapi_cert,
            "nodes": [n["name"] for n in nodes], "version": cluster["version"],
            "node_ips": {n["name"]: n["ip"] for n in nodes},
            "os": OS_NAME, "nic_link": NODE_BRIDGE,
            "shared_file_storage": os.path.join(cluster_dir, "shared-file-storage"),
        }

    def _write_inventory(self, state, key):
        lines = ["# Written by 'tests/lab/lab up'; do not edit.", "all:", "  vars:",
                 "    ansible_user: root",
                 "    ansible_ssh_private_key_file: %s" % key,
                 "    ansible_ssh_common_args: >-", "      -o StrictHostKeyChecking=no"
                 " -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR",
                 # Every lab uses the same addresses in its own namespaces: a
                 # control socket shared between labs would run commands in
                 # another lab, so each lab keeps its sockets in its directory.
                 "    ansible_ssh_args: >-",
                 "      -C -o ControlMaster=auto -o ControlPersist=60s -o ControlPath=%s/%%C"
                 % os.path.join(self.lab_dir, "ssh"),
                 "    ansible_python_interpreter: /usr/bin/python3",
                 "  children:", "    ganeti_masters:", "      hosts:"]
        for cluster in state["clusters"]:
            lines.append("        %s:" % cluster["master"])
        lines.append("    ganeti_nodes:")
        lines.append("      children:")
        for cluster in state["clusters"]:
            lines.append("        %s:" % cluster["short"])
        for cluster in state["clusters"]:
            lines += ["    %s:" % cluster["short"], "      vars:",
                      "        ganeti_cluster_name: %s" % cluster["name"],
                      "        ganeti_cluster_master: %s" % cluster["master"],
                      "        ganeti_rapi_url: %s" % cluster["rapi_url"],
                      "        ganeti_rapi_ca_path: %s" % cluster["ca_file"],
                      "        ganeti_rapi_user: %s" % cluster["rapi_user"],
                      "        ganeti_rapi_password_file: %s" % cluster["rapi_password_file"],
                      "        ganeti_rapi_password: %s" % _read_text(cluster["rapi_password_file"]).strip(),
                      "      hosts:"]
            for node in cluster["nodes"]:
                lines += ["        %s:" % node, "          ansible_host: %s" % cluster["node_ips"][node]]
        os.makedirs(os.path.join(self.lab_dir, "ssh"), mode=0o700, exist_ok=True)
        path = os.path.join(self.lab_dir, "inventory.yml")
        # The inventory carries the lab's RAPI passwords.
        _write_private(path, "\n".join(lines) + "\n", 0o600)
        return path

    def down(self, log=print, keep_snapshots=False):
        """Stop every lab host this lab directory started, then remove its files.

        KEEP_SNAPSHOTS keeps the copies of the topologies built here, so that
        a test rebuilding the lab gets fresh clusters faster; the end of a
        run, and ``lab down``, remove them too.
        """
        started = time.monotonic()
        state = self.state() or {}
        pids = [h["pid"] for h in state.get("hosts", {}).values()]
        inits = [pid for pid in pids if _is_our_init(pid, self.lab_dir)]
        # The unshare wrapper of each init carries the lab directory in its
        # command line too and exits only after its init is reaped: wait for it
        # as well, so that "down" returning means no lab process is left.
        wrappers = [ppid for ppid in map(_parent, inits) if _is_our_init(ppid, self.lab_dir)]
        ours = inits + wrappers
        for pid in inits:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        for pid in self._still_running(ours, seconds=5):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        left = self._still_running(ours, seconds=5)
        if left:
            raise LabError("lab processes %s did not end after SIGKILL" % left)
        if os.path.isdir(self.lab_dir):
            shutil.rmtree(self.lab_dir)
        if not keep_snapshots:
            shutil.rmtree(self.lab_dir + ".snapshots", ignore_errors=True)
        log("lab down in %.2f s" % (time.monotonic() - started))
        return time.monotonic() - started

    def _still_running(self, pids, seconds):
        deadline = time.monotonic() + seconds
        while True:
            left = [pid for pid in pids if _is_our_init(pid, self.lab_dir)]
            if not left or time.monotonic() >= deadline:
                return left
            time.sleep(0.02)

    # conveniences for tests and benchmarks
    def cluster(self, name):
        for cluster in self.state()["clusters"]:
            if name in (cluster["name"], cluster["short"]):
                return cluster
        raise LabError("no lab cluster named %r" % name)

    def rapi_password(self, cluster):
        with open(self.cluster(cluster)["rapi_password_file"], encoding="utf-8") as handle:
            return handle.read().strip()

    def gnt(self, cluster, *args, check=True):
        """Run a gnt-* command on CLUSTER's master and return its stdout."""
        return self.exec(self.cluster(cluster)["master"], list(args), check=check).stdout


def _start_bridge(bridge_pid):
    """The lab's bridge, in the bridge host's network namespace: every host's veth joins it."""
    nsexec(bridge_pid, ["sh", "-ec", "ip link set lo up; ip link add br0 type bridge; ip link set br0 up"])


def _read_text(path):
    with open(path, encoding="utf-8") as handle:
        return handle.read()


def _write_private(path, text, mode, owner=None):
    """Write PATH atomically with MODE and OWNER, a (uid, gid) pair."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.chmod(tmp, mode)
    if owner:
        os.chown(tmp, *owner)
    os.replace(tmp, path)


def _ids_in(system_root, user, group):
    """(uid, gid) of USER and GROUP in the root filesystem SYSTEM_ROOT ("/" for the machine's)."""
    def lookup(table, name):
        with open(os.path.join(system_root, "etc", table), encoding="utf-8") as handle:
            for line in handle:
                fields = line.split(":")
                if fields[0] == name:
                    return int(fields[2])
        raise LabError("no %s %r in %s" % (table, name, os.path.join(system_root, "etc", table)))
    return lookup("passwd", user), lookup("group", group)


def _self_signed_pem(name, ip):
    """A RAPI key and end-entity certificate issued to the cluster name (and its IP)."""
    with contextlib.ExitStack() as stack:
        workdir = stack.enter_context(_tempdir())
        key = os.path.join(workdir, "key.pem")
        cert = os.path.join(workdir, "cert.pem")
        _run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "3650",
              "-subj", "/CN=%s" % name, "-addext", "subjectAltName=DNS:%s,IP:%s" % (name, ip),
              # An end-entity certificate, as ganeti.fleet issues them: it cannot sign others.
              "-addext", "basicConstraints=critical,CA:FALSE",
              "-addext", "keyUsage=critical,digitalSignature,keyEncipherment",
              "-keyout", key, "-out", cert])
        with open(key, encoding="ascii") as k, open(cert, encoding="ascii") as c:
            return k.read() + c.read()


@contextlib.contextmanager
def _tempdir():
    import tempfile  # pylint: disable=import-outside-toplevel
    path = tempfile.mkdtemp(prefix="fleetlab-")
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _certificates_only(pem):
    blocks, inside, current = [], False, []
    for line in pem.splitlines():
        if line.startswith("-----BEGIN CERTIFICATE-----"):
            inside, current = True, [line]
        elif line.startswith("-----END CERTIFICATE-----") and inside:
            current.append(line)
            blocks.append("\n".join(current))
            inside = False
        elif inside:
            current.append(line)
    if not blocks:
        raise LabError("no certificate found in rapi.pem")
    return "\n".join(blocks) + "\n"
