"""lab up | down | status | rootfs VERSION | exec NODE CMD... | shell NODE | env CLUSTER"""

import argparse
import json
import os
import sys

from . import rootfs
from .lab import Lab, LabError, Topology, nsexec
from .rootfs import MACHINE_VERSION, VERSIONS


def _parser():
    parser = argparse.ArgumentParser(prog="tests/lab/lab", description=__doc__)
    parser.add_argument("--lab-dir", help="lab directory (default: $GANETI_LAB_DIR or %(default)s)",
                        default=None)
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="bring the lab up (idempotent)")
    up.add_argument("--clusters", type=int, default=2)
    up.add_argument("--nodes", type=int, default=2, help="nodes per cluster")
    up.add_argument("--domain-secret", choices=["shared", "distinct"], default="shared",
                    help="one cluster domain secret for all clusters, or one each")
    up.add_argument("--rapi-cert", choices=["cluster-name", "stock"], default="cluster-name",
                    help="RAPI certificate issued to the cluster name, or Ganeti's stock one")
    up.add_argument("--versions", default=None,
                    help="Ganeti version of each cluster, comma-separated (default: 3.0 for all;"
                         " 3.1 runs in a Debian 13 root filesystem built once and cached)")
    sub.add_parser("down", help="stop everything the lab started and remove its files")
    sub.add_parser("status", help="print what is up")
    sub.add_parser("install", help="install the Debian packages only")
    root = sub.add_parser("rootfs", help="build (once; then cached) the root filesystem of a Ganeti version")
    root.add_argument("version", choices=[v for v in VERSIONS if v != MACHINE_VERSION])
    ex = sub.add_parser("exec", help="run a command on a lab host (node, 'controller')")
    ex.add_argument("host")
    ex.add_argument("cmd", nargs=argparse.REMAINDER)
    sh = sub.add_parser("shell", help="interactive shell on a lab host")
    sh.add_argument("host")
    env = sub.add_parser("env", help="print GANETI_RAPI_* shell exports for a cluster")
    env.add_argument("cluster")
    return parser


def main(argv=None):
    args = _parser().parse_args(argv)
    lab = Lab(args.lab_dir)
    try:
        if args.command == "up":
            lab.up(Topology(args.clusters, args.nodes, args.domain_secret, args.rapi_cert,
                            versions=args.versions.split(",") if args.versions else None))
        elif args.command == "down":
            lab.down()
        elif args.command == "rootfs":
            print(rootfs.ensure(args.version))
        elif args.command == "install":
            from .lab import install_packages  # pylint: disable=import-outside-toplevel
            install_packages()
        elif args.command == "status":
            state = lab.state()
            if not state:
                print("lab is down")
                return 3
            running = lab.is_running()
            print(json.dumps({"running": running, "state_file": lab.state_path,
                              "topology": state["topology"],
                              "clusters": [{k: c[k] for k in ("name", "rapi_url", "ca_file", "nodes")}
                                           for c in state.get("clusters", [])],
                              "inventory": state.get("inventory")}, indent=2))
            return 0 if running else 3
        elif args.command == "exec":
            if not args.cmd:
                raise LabError("exec needs a command")
            proc = nsexec(lab.host_pid(args.host), args.cmd, check=False, capture=False,
                          env=_passthrough_env(), cwd=os.getcwd())
            return proc.returncode
        elif args.command == "shell":
            proc = nsexec(lab.host_pid(args.host), ["bash", "-l"], check=False, capture=False,
                          env={"TERM": os.environ.get("TERM", "xterm")})
            return proc.returncode
        elif args.command == "env":
            cluster = lab.cluster(args.cluster)
            print("export GANETI_RAPI_URL=%s" % cluster["rapi_url"])
            print("export GANETI_RAPI_USER=%s" % cluster["rapi_user"])
            print("export GANETI_RAPI_PASSWORD=\"$(cat %s)\"" % cluster["rapi_password_file"])
            print("export GANETI_RAPI_CA_PATH=%s" % cluster["ca_file"])
    except (LabError, rootfs.RootfsError) as err:
        print("lab: %s" % err, file=sys.stderr)
        return 1
    return 0


def _passthrough_env():
    """Variables a command run on the controller needs (venv, Ansible, GANETI_*)."""
    keep = {}
    for key, value in os.environ.items():
        if key.startswith(("ANSIBLE_", "GANETI_", "VIRTUAL_ENV", "PYTHON", "TERM")) or key == "PATH":
            keep[key] = value
    return keep
