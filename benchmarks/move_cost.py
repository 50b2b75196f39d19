"""What a move costs the machine: Ganeti jobs, node RPCs and CPU, per tool.

Runs a move on the lab (``GANETI_LAB_DIR``) with the playbook or with
Ganeti's move-instance, like ``move_benchmark.py`` does, and counts:

* the Ganeti jobs the move caused on each cluster, by opcode (their new
  entries in ``GET /2/jobs``);
* the RPCs the node daemons answered, by name (the new lines of every lab
  node's ``node-daemon.log``);
* the CPU time used during the move by every process on the machine, grouped
  (``/proc/PID/stat`` read every 0.1 s; a process that lives less than that
  is missed, so node daemon RPCs are undercounted, and other work on the
  machine is counted too).

    GANETI_LAB_DIR=/var/tmp/lab-perf .venv/bin/python benchmarks/move_cost.py \
        --tool playbook --count 8 --size 256

This is a measuring aid, not a test: it asserts only that the data arrived.
"""

import argparse
import collections
import glob
import json
import os
import re
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import move_benchmark as bench  # noqa: E402  pylint: disable=wrong-import-position
from move_timeline import _jobs  # noqa: E402  pylint: disable=wrong-import-position

RPC_LINE = re.compile(r"\b(?:PUT|POST|GET) /(\S+) HTTP")
#: Process groups, by the name the sampler gives a process (first match wins).
GROUPS = [
    ("Ganeti job processes", re.compile(r"^py:exec\.py$")),
    ("node daemons (one process per RPC)", re.compile(r"^py:ganeti-noded$")),
    ("luxid, wconfd, confd", re.compile(r"^ganeti-(luxid|wconfd|confd)$")),
    ("RAPI daemons", re.compile(r"^py:ganeti-rapi$")),
    ("disk transfer (import/export daemons, dd, socat)", re.compile(r"^(py:import-export|dd|socat)$")),
    ("direct transfer (the node programs, their SSH clients and servers)",
     re.compile(r"^(py:disk-stream|ssh|sshd.*)$")),
    ("ansible-playbook (controller and workers)", re.compile(r"^py:ansible-playbook$")),
    ("module processes", re.compile(r"^python[0-9.]*$")),
    ("move-instance", re.compile(r"^py:move-instance$")),
]
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _process_name(pid):
    try:
        with open("/proc/%s/cmdline" % pid, "rb") as handle:
            args = [a.decode(errors="replace") for a in handle.read().split(b"\0") if a]
    except OSError:
        return None
    if not args:
        return None
    program = os.path.basename(args[0])
    if len(args) > 2 and args[1] == "-c" and "ganeti-fleet-disk-stream" in args[2]:
        return "py:disk-stream"  # the direct transfer's program on a node
    if program.startswith("python") and len(args) > 1 and not args[1].startswith("-"):
        return "py:" + os.path.basename(args[1])
    return program


def _cpu_seconds(pid):
    """(utime + stime in seconds, start time in ticks) of PID, or None."""
    try:
        with open("/proc/%s/stat" % pid, encoding="ascii", errors="replace") as handle:
            data = handle.read()
    except OSError:
        return None
    fields = data[data.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS, fields[19]


class CpuSampler(threading.Thread):
    """Reads every process's CPU time until stopped; totals by process name."""

    def __init__(self, interval=0.1):
        super().__init__(daemon=True)
        self.interval = interval
        self.stopping = threading.Event()
        self.processes = {}  # (pid, start ticks) -> [name, cpu at first sight, cpu last seen]

    def run(self):
        first = True
        while not self.stopping.is_set():
            for pid in os.listdir("/proc"):
                if not pid.isdigit():
                    continue
                sample = _cpu_seconds(pid)
                if sample is None:
                    continue
                cpu, started = sample
                known = self.processes.get((pid, started))
                if known is None:
                    name = _process_name(pid)
                    if name:
                        # Processes that were there before the move count from now on.
                        self.processes[(pid, started)] = [name, cpu if first else 0.0, cpu]
                else:
                    known[2] = cpu
                    if known[0] in ("sh", "bash"):  # a fork that went on to exec
                        known[0] = _process_name(pid) or known[0]
            first = False
            self.stopping.wait(self.interval)

    def totals(self):
        seconds, counts = collections.Counter(), collections.Counter()
        for name, before, last in self.processes.values():
            if last > before:
                seconds[name] += last - before
                counts[name] += 1
        return seconds, counts


def grouped(seconds, counts):
    rows = collections.OrderedDict((group[0], [0.0, 0]) for group in GROUPS)
    rows["other processes on the machine"] = [0.0, 0]
    for name, value in seconds.items():
        group = next((g for g, pattern in GROUPS if pattern.search(name)), "other processes on the machine")
        rows[group][0] += value
        rows[group][1] += counts[name]
    return rows


def _job_kind(summary):
    return re.sub(r"\(.*\)$", "", summary)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--tool", choices=["direct", "ganeti", "playbook", "move-instance"], default="direct")
    parser.add_argument("--count", type=int, default=1)
    parser.add_argument("--size", type=int, default=1024, help="disk size in MiB")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    lab = bench.lab_for_moves()
    names = bench.names_for(args.tool, args.count)
    digests = bench.prepare(lab, names, args.size)
    jobs_before = {cluster: set(_jobs(lab, cluster)[2]) for cluster in ("c1", "c2")}
    logs = glob.glob(os.path.join(lab.lab_dir, "nodes", "*", "var-log-ganeti", "node-daemon.log"))
    log_sizes = {path: os.path.getsize(path) for path in logs}
    sampler = CpuSampler()
    sampler.start()
    time.sleep(0.3)  # one full pass, so that the daemons' earlier CPU time is not counted
    elapsed = bench.run_tool(args.tool, lab, names)
    sampler.stopping.set()
    sampler.join()
    jobs = {}
    for cluster in ("c1", "c2"):
        listed = _jobs(lab, cluster)[2]
        kinds = collections.Counter(_job_kind(summary) for job_id in set(listed) - jobs_before[cluster]
                                    for summary in listed[job_id].get("summary") or [])
        jobs[cluster] = dict(kinds.most_common())
    rpcs = collections.Counter()
    for path in logs:
        with open(path, encoding="utf-8", errors="replace") as handle:
            handle.seek(log_sizes[path])
            rpcs.update(match.group(1) for match in RPC_LINE.finditer(handle.read()))
    bench.verify_and_clean(lab, digests)
    cpu = grouped(*sampler.totals())
    result = {"tool": args.tool, "instances": args.count, "disk_mib": args.size, "seconds": round(elapsed, 2),
              "jobs": jobs, "rpcs": dict(rpcs.most_common()),
              "cpu": {group: round(value[0], 2) for group, value in cpu.items()}}
    print("%s, %d x %d MiB: %.1f s, data verified (sha256)" % (args.tool, args.count, args.size, elapsed))
    for cluster, kinds in jobs.items():
        print("jobs on %s: %d (%s)" % (cluster, sum(kinds.values()),
                                       ", ".join("%s %d" % item for item in kinds.items())))
    print("node RPCs: %d (%s)" % (sum(rpcs.values()), ", ".join("%s %d" % item for item in rpcs.most_common(6))))
    print("CPU: %.1f s in all" % sum(value[0] for value in cpu.values()))
    for group, (value, count) in cpu.items():
        print("  %7.2f s  %4d processes  %s" % (value, count, group))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(result, handle, indent=2)


if __name__ == "__main__":
    main()
