"""Benchmark: playbooks/move_instances.yml against Ganeti's own move-instance.

Both move the same kind of instance between the same two lab clusters, in
alternating runs, with the lab's transfer fix applied (without it Ganeti
3.0.2's move-instance cannot move anything either). Scenarios:

* ``single``: one instance with a 1 GiB disk;
* ``eight``: eight instances with 256 MiB disks; move-instance runs eight
  times one after the other (its multi-instance mode crashes on 3.0.2), the
  playbook moves the eight in parallel.

Every run's data is verified (sha256 on the destination node equals the
source's), then the moved instances are removed. The figures (wall clock of
the move command alone) are written as JSON and as a Markdown table.

    .venv/bin/python benchmarks/move_benchmark.py --repeat 3 --output docs/performance.md

This is a benchmark, not a test: it asserts only that the data arrived.
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, "tests", "lab"))
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))

import fleetlab  # noqa: E402  pylint: disable=wrong-import-position
from fleetlab import helpers  # noqa: E402  pylint: disable=wrong-import-position
from fleettest import _collections_path, rapi_options, set_transfer_fix  # noqa: E402  pylint: disable=wrong-import-position

MOVE_INSTANCE = "/usr/share/ganeti/3.0/move-instance"
SCENARIOS = {"single": (1, 1024), "eight": (8, 256)}


def lab_for_moves(transfer_fix=True):
    """The lab (``GANETI_LAB_DIR``), up, with this process in its controller's network namespace."""
    lab = fleetlab.Lab()
    lab.up(fleetlab.Topology())
    fleetlab.enter_network_namespace(lab.state()["controller"]["pid"])
    if transfer_fix:
        set_transfer_fix(lab, "present")
    return lab


def names_for(tool, count):
    """COUNT instance names; each tool has its own, so that a leftover of one never meets the other."""
    first = 30 if tool == "playbook" else 50
    return ["vm%02d.lab" % (first + i) for i in range(count)]


def run_tool(tool, lab, names, forks=None):
    """Move NAMES from c1 to c2 with TOOL; the wall-clock seconds of the move command."""
    if tool == "playbook":
        return run_playbook(lab, names, forks=forks)
    return run_move_instance(lab, names)


def prepare(lab, names, size_mib):
    for name in names:
        helpers.remove_instance(lab, "c2", name)
        helpers.remove_instance(lab, "c1", name)
    return {name: helpers.create_instance(lab, "c1", name, size_mib=size_mib,
                                          node="c1n%d" % (index % 2 + 1))
            for index, name in enumerate(names)}


def verify_and_clean(lab, digests):
    for name, digest in digests.items():
        got = helpers.hash_instance_disk(lab, "c2", name)
        if got != digest:
            raise SystemExit("data of %s differs after the move: %s != %s" % (name, got, digest))
        helpers.remove_instance(lab, "c2", name)
        helpers.remove_instance(lab, "c1", name)


def run_move_instance(lab, names):
    src, dst = lab.cluster("c1"), lab.cluster("c2")
    started = time.monotonic()
    for index, name in enumerate(names):
        cmd = [MOVE_INSTANCE, "--opportunistic-tries=0",
               "--src-ca-file", src["ca_file"], "--src-username", src["rapi_user"],
               "--src-password-file", src["rapi_password_file"],
               "--dest-ca-file", dst["ca_file"], "--dest-username", dst["rapi_user"],
               "--dest-password-file", dst["rapi_password_file"],
               "--dest-primary-node", dst["nodes"][index % 2],
               src["master_ip"], dst["master_ip"], name]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise SystemExit("move-instance %s failed:\n%s" % (name, proc.stderr[-3000:]))
    return time.monotonic() - started


def run_playbook(lab, names, forks=None):
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=_collections_path())
    for prefix, cluster in (("GANETI_SOURCE_RAPI_", "c1"), ("GANETI_DEST_RAPI_", "c2")):
        opts = rapi_options(lab, cluster)
        env.update({prefix + "URL": opts["rapi_url"], prefix + "USER": opts["rapi_user"],
                    prefix + "PASSWORD": opts["rapi_password"], prefix + "CA_PATH": opts["ca_path"]})
    dst_nodes = lab.cluster("c2")["nodes"]
    moves = [{"name": name, "primary_node": dst_nodes[index % 2]} for index, name in enumerate(names)]
    cmd = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"),
           os.path.join(REPO, "playbooks", "move_instances.yml"),
           "--forks", str(max(5, forks or len(names))),
           "-e", json.dumps({"move_instances": moves, "move_parallel": forks or len(names)})]
    started = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=REPO, check=False)
    elapsed = time.monotonic() - started
    if proc.returncode != 0:
        raise SystemExit("playbook failed:\n%s" % proc.stdout[-5000:])
    return elapsed


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs of each tool per scenario")
    parser.add_argument("--scenario", choices=sorted(SCENARIOS), action="append")
    parser.add_argument("--output", help="Markdown file to write the results into")
    parser.add_argument("--json", default=os.path.join(REPO, "tests", "output", "move_benchmark.json"))
    args = parser.parse_args()
    lab = lab_for_moves()
    results = {}
    for scenario in args.scenario or ["single", "eight"]:
        count, size = SCENARIOS[scenario]
        times = {"move-instance": [], "playbook": []}
        for repeat in range(args.repeat):
            # Alternate which tool goes first, so drift in the machine's load
            # does not favour one.
            order = ["move-instance", "playbook"] if repeat % 2 == 0 else ["playbook", "move-instance"]
            for tool in order:
                names = names_for(tool, count)
                digests = prepare(lab, names, size)
                elapsed = run_tool(tool, lab, names)
                verify_and_clean(lab, digests)
                times[tool].append(round(elapsed, 2))
                print("%s %s run %d: %.1f s" % (scenario, tool, repeat + 1, elapsed), flush=True)
        medians = {tool: statistics.median(values) for tool, values in times.items()}
        results[scenario] = {"instances": count, "disk_mib": size, "runs": times, "median": medians,
                             "ratio": round(medians["playbook"] / medians["move-instance"], 3)}
    os.makedirs(os.path.dirname(args.json), exist_ok=True)
    with open(args.json, "w", encoding="utf-8") as handle:
        json.dump(results, handle, indent=2)
    table = ["| scenario | move-instance runs (s) | playbook runs (s) | median move-instance | "
             "median playbook | ratio |", "|---|---|---|---|---|---|"]
    for scenario, data in results.items():
        table.append("| %d x %d MiB | %s | %s | %.1f s | %.1f s | %.2f |" % (
            data["instances"], data["disk_mib"], ", ".join("%.1f" % t for t in data["runs"]["move-instance"]),
            ", ".join("%.1f" % t for t in data["runs"]["playbook"]), data["median"]["move-instance"],
            data["median"]["playbook"], data["ratio"]))
    text = "\n".join(table)
    print(text)
    if args.output:
        with open(args.output, "w", encoding="utf-8") as handle:
            handle.write("# Performance\n\nMeasured %s on %s (%d cores), %d alternating runs per tool.\n\n%s\n"
                         % (time.strftime("%Y-%m-%d"), platform.platform(), os.cpu_count(), args.repeat, text))


if __name__ == "__main__":
    main()
