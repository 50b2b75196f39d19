"""Benchmark: ``ansible-inventory --list`` with the ganeti.fleet.rapi plugin, end to end.

A RAPI stand-in serves synthesised bulk answers (``GET /2/info``,
``GET /2/instances?bulk=1``, ``GET /2/nodes?bulk=1``, shaped like Ganeti
3.0's, with KVM-sized ``hvparams``) over plain HTTP on the loopback of a
network namespace of its own: the script re-executes itself under
``unshare -n`` (root needed), brings ``lo`` up there, and nothing it sends
leaves that namespace. Each run is the real ``ansible-inventory -i FILE
--list`` (output to /dev/null); per run it reports the wall clock, the CPU
time and the peak RSS of ansible-inventory and the children it waited for
(``os.wait4``), with the load average at the start.

    .venv/bin/python benchmarks/inventory_benchmark.py --instances 0 1000 10000 --repeat 3
    .venv/bin/python benchmarks/inventory_benchmark.py --instances 10000 --profile /tmp/inv.prof
    .venv/bin/python benchmarks/inventory_benchmark.py --tree /tmp/before   # another copy of the collection

``--tree`` names a directory holding the collection (default: this
checkout), so that a copy of an older version (``git archive``) can be
measured the same way. ``--profile FILE`` runs ansible-inventory under
cProfile once per size and prints the top functions. ``--nodes N`` adds N
nodes per cluster, ``--clusters`` splits the instances over several
clusters, ``--options`` adds YAML to the inventory file (for example
``'{nodes: all}'``).

This is a benchmark, not a test: it asserts only that every instance was listed.
"""

import argparse
import http.server
import json
import os
import platform
import pstats
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
INNER = "GANETI_FLEET_INVENTORY_BENCHMARK_NETNS"

# Effective KVM hypervisor parameters as Ganeti 3.0 returns them (names and
# kinds of values; the values are made up).
KVM_HVPARAMS = {
    "acpi": True, "boot_order": "disk", "cdrom_image_path": "", "cdrom_disk_type": "",
    "cdrom2_image_path": "", "cpu_cores": 0, "cpu_mask": "all", "cpu_sockets": 0, "cpu_threads": 0,
    "cpu_type": "", "disk_aio": "threads", "disk_cache": "default", "disk_discard": "ignore",
    "disk_type": "paravirtual", "floppy_image_path": "", "initrd_path": "", "kernel_args": "ro",
    "kernel_path": "", "keymap": "", "kvm_extra": "", "kvm_flag": "", "kvm_path": "/usr/bin/kvm",
    "machine_version": "", "mem_path": "", "migration_caps": "", "migration_downtime": 30,
    "nic_type": "paravirtual", "reboot_behavior": "reboot", "root_path": "/dev/vda1",
    "security_domain": "", "security_model": "none", "serial_console": True, "serial_speed": 38400,
    "soundhw": "", "spice_bind": "", "spice_image_compression": "", "spice_ip_version": 0,
    "spice_jpeg_wan_compression": "", "spice_password_file": "", "spice_playback_compression": True,
    "spice_streaming_video": "", "spice_tls_ciphers": "HIGH:-DES:-3DES:-EXPORT:-DH",
    "spice_use_tls": False, "spice_use_vdagent": True, "spice_zlib_glz_wan_compression": "",
    "usb_devices": "", "usb_mouse": "", "use_chroot": False, "use_localtime": False,
    "user_shutdown": False, "vga": "", "vhost_net": False, "virtio_net_queues": 1,
    "vnc_bind_address": "", "vnc_password_file": "", "vnc_tls": False, "vnc_x509_path": "",
    "vnc_x509_verify": False, "vnet_hdr": True,
}


def synth_instance(index, cluster, nodes):
    running = index % 10 != 0
    name = "vm%05d.%s" % (index, cluster)
    pnode = nodes[index % len(nodes)]
    return {
        "name": name, "admin_state": "up" if running else "down", "admin_up": running,
        "os": "debootstrap+default", "pnode": pnode, "snodes": [nodes[(index + 1) % len(nodes)]],
        "disk_template": "drbd",
        "nic.ips": ["10.%d.%d.%d" % (index // 65536 % 256, index // 256 % 256, index % 256)],
        "nic.macs": ["aa:00:%02x:%02x:%02x:01" % (index // 65536 % 256, index // 256 % 256, index % 256)],
        "nic.modes": ["bridged"], "nic.links": ["br0"], "nic.bridges": ["br0"],
        "nic.uuids": ["6b6a5ff6-0000-4000-8000-%012d" % index], "nic.names": [None],
        "nic.networks": [None], "nic.networks.names": [None],
        "network_port": 11000 + index % 1000,
        "disk.sizes": [10240, 2048], "disk.spindles": [None, None], "disk_usage": 12544,
        "disk.uuids": ["0d2c1bb4-0000-4000-8000-%012d" % index, "0d2c1bb4-0001-4000-8000-%012d" % index],
        "disk.names": [None, None],
        "beparams": {"vcpus": 2, "maxmem": 2048, "minmem": 2048, "memory": 2048, "auto_balance": True,
                     "always_failover": False, "spindle_use": 1},
        "hvparams": dict(KVM_HVPARAMS),
        "oper_state": running, "oper_ram": 2048 if running else None, "oper_vcpus": 2 if running else None,
        "status": "running" if running else "ADMIN_down",
        "custom_hvparams": {}, "custom_beparams": {"memory": 2048, "vcpus": 2},
        "custom_nicparams": [{"link": "br0"}],
        "ctime": 1700000000.0 + index, "mtime": 1700000100.0 + index,
        "uuid": "1f9e3c0a-0000-4000-8000-%012d" % index, "serial_no": 3,
        "tags": ["group:%s" % ("web", "db", "app")[index % 3], "owner:team%d" % (index % 7)],
    }


def synth_node(index, cluster, nodes, instances):
    name = nodes[index]
    return {
        "name": name, "offline": False, "master_candidate": index < 3, "drained": False,
        "dtotal": 4000000, "dfree": 2000000, "mtotal": 257000, "mnode": 1024, "mfree": 100000,
        "pinst_cnt": 0, "sinst_cnt": 0, "ctotal": 64, "cnodes": 2, "csockets": 2, "cnos": 1,
        "pip": "198.18.1.%d" % (index + 1), "sip": "198.18.2.%d" % (index + 1),
        "role": "M" if index == 0 else ("C" if index < 3 else "R"),
        "pinst_list": [i["name"] for i in instances if i["pnode"] == name],
        "sinst_list": [i["name"] for i in instances if name in i["snodes"]],
        "master_capable": True, "vm_capable": True,
        "ndparams": {"oob_program": "", "spindle_count": 1, "exclusive_storage": False, "ssh_port": 22},
        "group.uuid": "8a1c0e42-0000-4000-8000-000000000001",
        "ctime": 1700000000.0, "mtime": 1700000100.0, "uuid": "c0ffee00-0000-4000-8000-%012d" % index,
        "serial_no": 7, "tags": [],
    }


def cluster_answers(cluster, instance_count, node_count):
    nodes = ["n%03d.%s" % (i + 1, cluster) for i in range(max(1, node_count))]
    instances = [synth_instance(i, cluster, nodes) for i in range(instance_count)]
    node_data = [synth_node(i, cluster, nodes, instances) for i in range(len(nodes))]
    info = {"name": cluster, "master": nodes[0], "software_version": "3.0.2", "protocol_version": 2030000}
    return {"/2/info": json.dumps(info).encode(), "/2/instances": json.dumps(instances).encode(),
            "/2/nodes": json.dumps(node_data).encode()}


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    answers = {}        # port -> path -> bytes

    def do_GET(self):  # noqa: N802 (http.server's name)
        path = self.path.split("?", 1)[0]
        body = self.answers.get(self.server.server_address[1], {}).get(path)
        if body is None:
            self.send_response(404)
            body = b'{"code": 404, "message": "Not Found", "explain": ""}'
        else:
            self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def serve(answers):
    """Serve ANSWERS on a new loopback port; return the port."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    Handler.answers[server.server_address[1]] = answers
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server.server_address[1]


def collections_path(tree, workdir):
    root = os.path.join(workdir, "collections")
    link = os.path.join(root, "ansible_collections", "ganeti", "fleet")
    os.makedirs(os.path.dirname(link), exist_ok=True)
    os.symlink(os.path.abspath(tree), link)
    return root


def run_inventory(path, env, profile=None):
    """Run ansible-inventory --list; return (seconds, cpu seconds, peak RSS MiB, stdout bytes)."""
    ansible_inventory = os.path.join(os.path.dirname(sys.executable), "ansible-inventory")
    cmd = [ansible_inventory, "-i", path, "--list", "--output", path + ".json"]
    if profile:
        cmd = [sys.executable, "-m", "cProfile", "-o", profile] + cmd
    started = time.monotonic()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    # os.wait4: the rusage of ansible-inventory and the children it waited for
    _pid, status, usage = os.wait4(proc.pid, 0)
    seconds = time.monotonic() - started
    stderr = proc.stderr.read().decode(errors="replace")
    proc.stderr.close()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit("ansible-inventory failed:\n" + stderr)
    with open(path + ".json", "rb") as handle:
        listed = json.load(handle)
    return seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024.0, listed, stderr


def main_inner(args):
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    workdir = tempfile.mkdtemp(prefix="inventory-benchmark-")
    try:
        env = dict(os.environ)
        for key in list(env):
            if key.startswith(("GANETI_RAPI_", "ANSIBLE_")):
                del env[key]
        env.update({"ANSIBLE_COLLECTIONS_PATH": collections_path(args.tree, workdir),
                    "ANSIBLE_INVENTORY_UNPARSED_FAILED": "True", "ANSIBLE_NOCOLOR": "1",
                    "ANSIBLE_LOCAL_TEMP": os.path.join(workdir, "tmp"),
                    "ANSIBLE_HOME": os.path.join(workdir, "home")})
        extra = yaml.safe_load(args.options) if args.options else {}
        print("python %s, %s, %d CPUs; tree %s"
              % (platform.python_version(), platform.platform(), os.cpu_count(), os.path.abspath(args.tree)))
        for count in args.instances:
            clusters = []
            per_cluster = [count // args.clusters + (1 if i < count % args.clusters else 0)
                           for i in range(args.clusters)]
            for index, share in enumerate(per_cluster):
                name = "c%d.bench.example" % (index + 1)
                port = serve(cluster_answers(name, share, args.nodes))
                clusters.append({"rapi_url": "http://127.0.0.1:%d" % port, "allow_plain_http": True})
            config = dict(extra, plugin="ganeti.fleet.rapi", rapi_user="bench", rapi_password="bench",
                          clusters=clusters)
            path = os.path.join(workdir, "bench%d.ganeti.yml" % count)
            with open(path, "w", encoding="utf-8") as handle:
                yaml.safe_dump(config, handle)
            runs = []
            for attempt in range(args.repeat):
                load = os.getloadavg()
                seconds, cpu, rss, listed, stderr = run_inventory(path, env)
                hosts = listed.get("_meta", {}).get("hostvars", {})
                instances = [h for h in hosts if h.startswith("vm")]
                assert len(instances) == count, "listed %d of %d instances" % (len(instances), count)
                runs.append((seconds, cpu, rss))
                print("%6d instances, run %d: %6.2f s wall, %6.2f s CPU, %7.1f MiB peak RSS, %d hosts,"
                      " load %.2f %.2f %.2f" % (count, attempt + 1, seconds, cpu, rss, len(hosts), *load),
                      flush=True)
                if stderr.strip() and attempt == 0:
                    print("   stderr: " + stderr.strip().replace("\n", "\n   "))
            print("%6d instances: median %.2f s wall, %.2f s CPU, max %.1f MiB peak RSS (%d runs)"
                  % (count, statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs),
                     max(r[2] for r in runs), len(runs)), flush=True)
            if args.profile:
                profile = "%s.%d" % (args.profile, count)
                run_inventory(path, env, profile=profile)
                print("cProfile of %d instances (%s), top %d by cumulative time:" % (count, profile, args.top))
                pstats.Stats(profile).sort_stats("cumulative").print_stats(args.top)
                pstats.Stats(profile).sort_stats("tottime").print_stats(args.top)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--instances", type=int, nargs="+", default=[0, 1000, 10000])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--clusters", type=int, default=1)
    parser.add_argument("--nodes", type=int, default=40, help="nodes per cluster")
    parser.add_argument("--tree", default=REPO, help="directory of the collection to measure")
    parser.add_argument("--options", default="", help="YAML mapping added to the inventory file")
    parser.add_argument("--profile", default="", help="also run once under cProfile, writing FILE.COUNT")
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    if os.environ.get(INNER) != "1":
        # a network namespace of our own: the stand-in RAPI is reachable from nowhere else
        env = dict(os.environ, **{INNER: "1"})
        sys.exit(subprocess.run(["unshare", "-n", sys.executable] + sys.argv, env=env, check=False).returncode)
    # the namespace must not be the machine's own
    assert [name for _index, name in socket.if_nameindex()] == ["lo"], "not in a network namespace of our own"
    main_inner(args)


if __name__ == "__main__":
    main()
