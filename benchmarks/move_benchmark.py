"""Benchmark: playbooks/move_instances.yml (both transfers) against Ganeti's own move-instance.

Three tools move the same kind of instance between the same two lab clusters
(``GANETI_LAB_DIR``), in rotating order, with the lab's transfer fix applied
(without it Ganeti 3.0.2's move-instance and the ``ganeti`` transfer cannot
move anything):

* ``direct``: the playbook with ``transfer: direct`` (node to node, digested
  in the stream on both ends);
* ``ganeti``: the playbook with ``transfer: ganeti`` (Ganeti's remote
  import/export, then the disks digested on both nodes);
* ``move-instance``: Ganeti 3.0.2's ``move-instance``.

Scenarios:

* ``single``: one instance with a 1 GiB disk;
* ``eight``: eight instances with 256 MiB disks; move-instance runs eight
  times one after the other (its multi-instance mode crashes on 3.0.2), the
  playbook moves the eight in parallel (``--forks 8 -e move_parallel=8``);
* ``rerun``: twenty small instances moved once with the playbook, then the
  same playbook run again (it must find every move done): seconds and RAPI
  requests per instance of the re-run.

Every run's data is verified (sha256 on the destination node equals the
source's), then the moved instances are removed. Per run: wall clock of the
move command alone; CPU time of the whole machine (user + nice + system of
all cores, from ``/proc/stat``: other work on the machine counts too, so take
final figures on an otherwise idle machine); CPU time of the command and all
its descendants it waited for (``os.wait4``: ansible-playbook, its workers,
the module processes and their SSH clients, or move-instance); the load
average. From the module results (JSON stdout callback): the ``seconds`` of
each step, the ``transfer`` figures and ``rapi_requests``.

    GANETI_LAB_DIR=/var/tmp/lab-perf .venv/bin/python benchmarks/move_benchmark.py --repeat 3

This is a benchmark, not a test: it asserts only that the data arrived and
that the re-run changed nothing.
"""

import argparse
import concurrent.futures
import importlib.util
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, "tests", "lab"))
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))

import fleetlab  # noqa: E402  pylint: disable=wrong-import-position
from fleetlab import helpers  # noqa: E402  pylint: disable=wrong-import-position
from fleettest import _collections_path, rapi_options, set_transfer_fix  # noqa: E402  pylint: disable=wrong-import-position

MOVE_INSTANCE = "/usr/share/ganeti/3.0/move-instance"
TOOLS = ["direct", "ganeti", "move-instance"]
#: The playbook tools and the transfer each asks for.
TRANSFERS = {"direct": "direct", "ganeti": "ganeti", "playbook": "direct"}
SCENARIOS = {"single": (1, 1024), "eight": (8, 256)}
#: The playbook's task that runs the module.
MOVE_TASK = "Move the instance"
#: The step of the ganeti transfer that reads both disks again.
DIGEST_STEP = "compare the disks' digests"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
GIB = 1024.0


def lab_for_moves(transfer_fix=True):
    """The lab (``GANETI_LAB_DIR``), up, with this process in its controller's network namespace."""
    lab = fleetlab.Lab()
    lab.up(fleetlab.Topology())
    fleetlab.enter_network_namespace(lab.state()["controller"]["pid"])
    if transfer_fix:
        set_transfer_fix(lab, "present")
    return lab


def names_for(tool, count):
    """COUNT instance names; each tool has its own, so that a leftover of one never meets another."""
    first = {"direct": 10, "playbook": 10, "ganeti": 30, "move-instance": 50, "rerun": 61}[tool]
    return ["vm%02d.lab" % (first + i) for i in range(count)]


# ----------------------------------------------------------------------
# Instances

def _in_parallel(func, items, workers=4):
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        return list(pool.map(func, items))


def prepare(lab, names, size_mib, memory_mib=128):
    """Fresh instances NAMES on c1 (alternate primary nodes), disks of random bytes; their sha256."""
    def make(indexed):
        index, name = indexed
        helpers.remove_instance(lab, "c2", name)
        helpers.remove_instance(lab, "c1", name)
        return name, helpers.create_instance(lab, "c1", name, size_mib=size_mib, memory_mib=memory_mib,
                                             node="c1n%d" % (index % 2 + 1))
    # Not measured: made a few at a time, to keep the benchmark short.
    return dict(_in_parallel(make, list(enumerate(names))))


def verify(lab, digests):
    """Raise unless every instance's disk on c2 has the sha256 its source had."""
    def check(item):
        name, digest = item
        got = helpers.hash_instance_disk(lab, "c2", name)
        if got != digest:
            raise SystemExit("data of %s differs after the move: %s != %s" % (name, got, digest))
    _in_parallel(check, list(digests.items()))


def clean(lab, names):
    def remove(name):
        helpers.remove_instance(lab, "c2", name)
        helpers.remove_instance(lab, "c1", name)
    _in_parallel(remove, list(names))


def verify_and_clean(lab, digests):
    verify(lab, digests)
    clean(lab, digests)


# ----------------------------------------------------------------------
# Measuring

def machine_cpu():
    """CPU seconds of the whole machine so far, all cores: ``{user, nice, system, idle, iowait, ...}``."""
    with open("/proc/stat", encoding="ascii") as handle:
        fields = handle.readline().split()
    names = ["user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal"]
    return {name: int(value) / CLOCK_TICKS for name, value in zip(names, fields[1:])}


def load_average():
    with open("/proc/loadavg", encoding="ascii") as handle:
        return float(handle.read().split()[0])


class LoadSampler(threading.Thread):
    """The 1-minute load average every INTERVAL seconds, with the time it was read."""

    def __init__(self, interval=10.0):
        super().__init__(daemon=True)
        self.interval = interval
        self.samples = []
        self.stopping = threading.Event()

    def run(self):
        while not self.stopping.is_set():
            self.samples.append((time.time(), load_average()))
            self.stopping.wait(self.interval)

    def between(self, start, end):
        return [value for stamp, value in self.samples if start <= stamp <= end]


def load_summary(values):
    if not values:
        return None
    return {"min": min(values), "max": max(values), "mean": round(statistics.mean(values), 2),
            "samples": len(values)}


def run_measured(cmd, env=None):
    """Run CMD; ``(returncode, [stdout, stderr], wall seconds, CPU seconds of CMD and its waited-for descendants)``.

    Output goes to a file rather than a pipe, so that the process can be
    reaped with ``os.wait4`` (its rusage) without a reader thread.
    """
    with tempfile.TemporaryFile() as output, tempfile.TemporaryFile() as errors:
        started = time.monotonic()
        proc = subprocess.Popen(cmd, stdout=output, stderr=errors, env=env,  # pylint: disable=consider-using-with
                                cwd=REPO)
        _pid, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.monotonic() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        texts = []
        for handle in (output, errors):
            handle.seek(0)
            texts.append(handle.read().decode("utf-8", errors="replace"))
    return proc.returncode, texts, elapsed, usage.ru_utime + usage.ru_stime


class Measure:
    """Wall clock, machine CPU and load average around a block of work."""

    def __enter__(self):
        self.load_start = load_average()
        self.cpu_start = machine_cpu()
        self.started = time.monotonic()
        self.stamp = time.time()
        return self

    def __exit__(self, *exc):
        self.wall = time.monotonic() - self.started
        end = machine_cpu()
        self.cpu = {k: end[k] - self.cpu_start[k] for k in end}
        self.load_end = load_average()
        return False

    def figures(self):
        busy = self.cpu["user"] + self.cpu["nice"] + self.cpu["system"]
        return {"machine_cpu_seconds": round(busy, 2),
                "machine_cpu_detail": {k: round(v, 2) for k, v in self.cpu.items()},
                "machine_cpu_share": round(busy / (self.wall * (os.cpu_count() or 1)), 3),
                "load_average": [self.load_start, self.load_end], "started": self.stamp}


# ----------------------------------------------------------------------
# The tools

def _ansible_env(lab, json_output=True):
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=_collections_path(), ANSIBLE_HOST_KEY_CHECKING="False",
               ANSIBLE_RETRY_FILES_ENABLED="False", ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
    if json_output:
        # The whole run as one JSON document at its end (the test suite's callback).
        env["ANSIBLE_STDOUT_CALLBACK"] = "fleet_json"
        env["ANSIBLE_CALLBACK_PLUGINS"] = os.path.join(REPO, "tests", "integration", "callback_plugins")
    for prefix, cluster in (("GANETI_SOURCE_RAPI_", "c1"), ("GANETI_DEST_RAPI_", "c2")):
        opts = rapi_options(lab, cluster)
        env.update({prefix + "URL": opts["rapi_url"], prefix + "USER": opts["rapi_user"],
                    prefix + "PASSWORD": opts["rapi_password"], prefix + "CA_PATH": opts["ca_path"]})
    return env


def playbook_command(lab, names, transfer="direct", forks=None):
    dst_nodes = lab.cluster("c2")["nodes"]
    moves = [{"name": name, "primary_node": dst_nodes[index % 2]} for index, name in enumerate(names)]
    parallel = forks or len(names)
    return [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"),
            os.path.join(REPO, "playbooks", "move_instances.yml"),
            "-i", lab.state()["inventory"],
            "--forks", str(max(5, parallel)),
            "-e", json.dumps({"move_instances": moves, "move_parallel": parallel,
                              "move_defaults": {"transfer": transfer}})]


def module_results(output):
    """``{instance: result of the module}`` from the JSON the callback wrote, or {} when none."""
    try:
        document = json.loads(output[output.index("{"):])
    except ValueError:
        return {}
    found = {}
    for play in document.get("plays", []):
        for task in play["tasks"]:
            if task["task"]["name"] == MOVE_TASK:
                for host, result in task["hosts"].items():
                    found[host[len("move_"):] if host.startswith("move_") else host] = result
    return found


def run_playbook(lab, names, transfer="direct", forks=None):
    """Move NAMES from c1 to c2 with the playbook; a dict of figures, with the module results."""
    rc, (output, errors), elapsed, cpu = run_measured(playbook_command(lab, names, transfer, forks),
                                                      _ansible_env(lab))
    results = module_results(output)
    if rc != 0 or len(results) != len(names) or any(r.get("failed") for r in results.values()):
        raise SystemExit("playbook (transfer: %s) failed:\n%s\n%s" % (transfer, output[-8000:], errors[-3000:]))
    return {"seconds": elapsed, "controller_cpu_seconds": cpu, "results": results}


def run_move_instance(lab, names):
    """Move NAMES from c1 to c2, one move-instance after the other; a dict of figures."""
    src, dst = lab.cluster("c1"), lab.cluster("c2")
    started = time.monotonic()
    cpu = 0.0
    for index, name in enumerate(names):
        cmd = [MOVE_INSTANCE, "--opportunistic-tries=0",
               "--src-ca-file", src["ca_file"], "--src-username", src["rapi_user"],
               "--src-password-file", src["rapi_password_file"],
               "--dest-ca-file", dst["ca_file"], "--dest-username", dst["rapi_user"],
               "--dest-password-file", dst["rapi_password_file"],
               "--dest-primary-node", dst["nodes"][index % 2],
               src["master_ip"], dst["master_ip"], name]
        rc, (output, errors), _elapsed, used = run_measured(cmd)
        cpu += used
        if rc != 0:
            raise SystemExit("move-instance %s failed:\n%s%s" % (name, output[-3000:], errors[-3000:]))
    return {"seconds": time.monotonic() - started, "controller_cpu_seconds": cpu, "results": {}}


def run_tool_measured(tool, lab, names, forks=None):
    if tool == "move-instance":
        return run_move_instance(lab, names)
    return run_playbook(lab, names, TRANSFERS[tool], forks)


def run_tool(tool, lab, names, forks=None):
    """Move NAMES from c1 to c2 with TOOL; the wall-clock seconds of the move command."""
    return run_tool_measured(tool, lab, names, forks)["seconds"]


# ----------------------------------------------------------------------
# What the module results say

def module_seconds(steps):
    """The module's own time from its ``seconds``: the finishing jobs are timed from one common start."""
    finishing = {"start the copy", "record the digests", "commit", "remove the source", "tag the source",
                 "untag the source"}
    serial = sum(v for k, v in steps.items() if k not in finishing)
    return serial + max([v for k, v in steps.items() if k in finishing] or [0])


def result_figures(result, disk_mib):
    """The per-instance figures of one module result."""
    steps = result.get("seconds") or {}
    total = module_seconds(steps)
    figures = {"steps": steps, "module_seconds": round(total, 2), "rapi_requests": result.get("rapi_requests"),
               "transfer": result.get("transfer"), "changed": result.get("changed"),
               "digests": [{"algorithm": d.get("algorithm"), "equal": d.get("source") == d.get("destination"),
                            "computed": d.get("computed")} for d in result.get("digests") or []]}
    if DIGEST_STEP in steps:
        figures["digest_seconds"] = steps[DIGEST_STEP]
        figures["digest_seconds_per_gib"] = round(steps[DIGEST_STEP] / (disk_mib / GIB), 2)
        figures["digest_share"] = round(steps[DIGEST_STEP] / total, 3) if total else None
    transfer = result.get("transfer") or {}
    if transfer.get("send_seconds"):
        figures["send_mib_per_second"] = round(transfer["bytes"] / 1048576.0 / transfer["send_seconds"], 1)
    return figures


def digest_speed(mib=256):
    """Seconds per GiB of the transfer's digest (b2tree) on this machine, one end, bytes in memory.

    The direct transfer digests in the stream, on each end in a thread of its
    own; its cost is not a step of its own in the module results.
    """
    spec = importlib.util.spec_from_file_location(
        "_disk_stream", os.path.join(REPO, "plugins", "module_utils", "_disk_stream.py"))
    stream = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(stream)
    block = os.urandom(stream.BLOCK)
    digest = stream.TreeDigest()
    started = time.process_time()
    for _block in range(mib):
        digest.update(block)
    digest.hexdigest()
    return round((time.process_time() - started) * GIB / mib, 3)


# ----------------------------------------------------------------------
# Scenarios

def rotation(repeat):
    """The tools' order in run REPEAT: each tool takes each place in turn, so load drift favours none."""
    shift = repeat % len(TOOLS)
    return TOOLS[shift:] + TOOLS[:shift]


def one_run(lab, tool, count, size):
    names = names_for(tool, count)
    digests = prepare(lab, names, size)
    with Measure() as measure:
        run = run_tool_measured(tool, lab, names)
    verify_and_clean(lab, digests)
    figures = dict(measure.figures(), seconds=round(run["seconds"], 2),
                   controller_cpu_seconds=round(run["controller_cpu_seconds"], 2), data_verified="sha256")
    if run["results"]:
        figures["instances"] = {name: result_figures(result, size) for name, result in run["results"].items()}
    return figures


def median(values):
    values = [v for v in values if v is not None]
    return round(statistics.median(values), 3) if values else None


def summarize_scenario(runs):
    """Medians per tool over RUNS (``{tool: [run figures]}``) and the ratios to move-instance."""
    summary = {}
    for tool, tool_runs in runs.items():
        per_instance = [i for r in tool_runs for i in (r.get("instances") or {}).values()]
        entry = {"seconds": median([r["seconds"] for r in tool_runs]),
                 "machine_cpu_seconds": median([r["machine_cpu_seconds"] for r in tool_runs]),
                 "controller_cpu_seconds": median([r["controller_cpu_seconds"] for r in tool_runs])}
        if per_instance:
            steps = sorted({k for i in per_instance for k in i["steps"]},
                           key=lambda k: -median([i["steps"].get(k) for i in per_instance]))
            entry["steps"] = {k: median([i["steps"].get(k) for i in per_instance]) for k in steps}
            entry["module_seconds"] = median([i["module_seconds"] for i in per_instance])
            entry["rapi_requests"] = median([sum((i["rapi_requests"] or {}).values()) for i in per_instance])
            if any("digest_seconds" in i for i in per_instance):
                entry["digest_seconds_per_gib"] = median([i.get("digest_seconds_per_gib") for i in per_instance])
                entry["digest_share"] = median([i.get("digest_share") for i in per_instance])
            if any(i.get("send_mib_per_second") for i in per_instance):
                entry["send_mib_per_second"] = median([i.get("send_mib_per_second") for i in per_instance])
                entry["send_seconds"] = median([(i["transfer"] or {}).get("send_seconds") for i in per_instance])
        summary[tool] = entry
    base = summary.get("move-instance", {})
    ratios = {}
    for tool in ("direct", "ganeti"):
        if tool in summary and base.get("seconds"):
            ratios[tool] = {"seconds": round(summary[tool]["seconds"] / base["seconds"], 3),
                            "machine_cpu_seconds": round(summary[tool]["machine_cpu_seconds"]
                                                         / base["machine_cpu_seconds"], 3)
                            if base.get("machine_cpu_seconds") else None}
    return summary, ratios


def rerun_scenario(lab, count, size, forks_list, repeat):
    """COUNT instances moved once, then the same playbook again (REPEAT times per entry of FORKS_LIST)."""
    names = names_for("rerun", count)
    digests = prepare(lab, names, size, memory_mib=16)
    with Measure() as measure:
        run = run_playbook(lab, names, "direct", forks=max(forks_list))
    verify(lab, digests)
    first = dict(measure.figures(), seconds=round(run["seconds"], 2),
                 controller_cpu_seconds=round(run["controller_cpu_seconds"], 2),
                 forks=max(forks_list), data_verified="sha256",
                 rapi_requests_per_instance=median([sum((r.get("rapi_requests") or {}).values())
                                                    for r in run["results"].values()]))
    print("rerun: first move of %d x %d MiB: %.1f s" % (count, size, run["seconds"]), flush=True)
    reruns = []
    for forks in forks_list:
        for index in range(repeat):
            with Measure() as measure:
                run = run_playbook(lab, names, "direct", forks=forks)
            changed = sorted(n for n, r in run["results"].items() if r.get("changed"))
            if changed:
                raise SystemExit("the re-run changed %s" % ", ".join(changed))
            requests = [sum((r.get("rapi_requests") or {}).values()) for r in run["results"].values()]
            entry = dict(measure.figures(), forks=forks, seconds=round(run["seconds"], 2),
                         seconds_per_instance=round(run["seconds"] / count, 3),
                         controller_cpu_seconds=round(run["controller_cpu_seconds"], 2),
                         module_seconds=median([module_seconds(r.get("seconds") or {})
                                                for r in run["results"].values()]),
                         rapi_requests_per_instance={"median": median(requests), "max": max(requests),
                                                     "detail": {n: r.get("rapi_requests")
                                                                for n, r in sorted(run["results"].items())}})
            reruns.append(entry)
            print("rerun %d (forks %d): %.2f s, %.3f s per instance, %s RAPI requests per instance"
                  % (index + 1, forks, run["seconds"], entry["seconds_per_instance"],
                     entry["rapi_requests_per_instance"]["median"]), flush=True)
    verify(lab, digests)
    clean(lab, names)
    summary = {str(forks): {"seconds_per_instance": median([r["seconds_per_instance"] for r in reruns
                                                            if r["forks"] == forks]),
                            "rapi_requests_per_instance": median([r["rapi_requests_per_instance"]["median"]
                                                                  for r in reruns if r["forks"] == forks])}
               for forks in forks_list}
    return {"instances": count, "disk_mib": size, "first_move": first, "reruns": reruns, "median": summary}


# ----------------------------------------------------------------------
# Report

def _runs(values, fmt="%.1f"):
    return ", ".join(fmt % v for v in values)


def report(results):
    lines = []
    for scenario in ("single", "eight"):
        data = results["scenarios"].get(scenario)
        if not data:
            continue
        lines.append("")
        lines.append("%d x %d MiB (%d runs per tool)"
                     % (data["instances"], data["disk_mib"], len(data["runs"]["move-instance"])))
        lines.append("| tool | runs (s) | median | machine CPU runs (s) | median CPU | controller CPU "
                     "| ratio time | ratio CPU |")
        lines.append("|---|---|---|---|---|---|---|---|")
        for tool in TOOLS:
            runs, median_ = data["runs"][tool], data["median"][tool]
            ratio = data["ratio"].get(tool, {})
            lines.append("| %s | %s | %.1f s | %s | %.1f s | %.2f s | %s | %s |" % (
                tool, _runs([r["seconds"] for r in runs]), median_["seconds"],
                _runs([r["machine_cpu_seconds"] for r in runs]), median_["machine_cpu_seconds"],
                median_["controller_cpu_seconds"],
                "%.2f" % ratio["seconds"] if ratio else "1", "%.2f" % ratio["machine_cpu_seconds"]
                if ratio.get("machine_cpu_seconds") else "1"))
        for tool in ("direct", "ganeti"):
            median_ = data["median"][tool]
            if "steps" not in median_:
                continue
            extra = ""
            if median_.get("digest_seconds_per_gib") is not None:
                extra = "; digests read again: %.2f s per GiB, %.0f %% of the module's time" % (
                    median_["digest_seconds_per_gib"], 100 * median_["digest_share"])
            if median_.get("send_mib_per_second"):
                extra += "; stream %.1f s, %.0f MiB/s" % (median_["send_seconds"], median_["send_mib_per_second"])
            lines.append("%s, module %.1f s, %s RAPI requests%s; steps (medians): %s" % (
                tool, median_["module_seconds"], median_["rapi_requests"], extra,
                ", ".join("%s %.2f" % item for item in median_["steps"].items())))
    rerun = results.get("rerun")
    if rerun:
        lines.append("")
        lines.append("re-run over %d moved instances: first move %.1f s; %s" % (
            rerun["instances"], rerun["first_move"]["seconds"], "; ".join(
                "forks %s: %s s per instance (runs %s), %s RAPI requests per instance" % (
                    forks, m["seconds_per_instance"],
                    _runs([r["seconds_per_instance"] for r in rerun["reruns"] if str(r["forks"]) == forks], "%.3f"),
                    m["rapi_requests_per_instance"]) for forks, m in rerun["median"].items())))
    lines.append("")
    lines.append("digest (b2tree) on this machine: %.2f s of CPU per GiB, one end" % results["digest_seconds_per_gib"])
    load = results.get("load_average")
    if load:
        lines.append("load average (1 min, every 10 s) during the benchmark: %s-%s, mean %s"
                     % (load["min"], load["max"], load["mean"]))
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs of each tool per scenario")
    parser.add_argument("--scenario", choices=sorted(SCENARIOS) + ["rerun"], action="append",
                        help="scenario to run (repeatable; default: all)")
    parser.add_argument("--size-mib", type=int, help="disk size of single (eight: a quarter), for a dry run")
    parser.add_argument("--rerun-count", type=int, default=20, help="instances of the re-run scenario")
    parser.add_argument("--rerun-size-mib", type=int, default=8)
    parser.add_argument("--rerun-forks", type=int, action="append",
                        help="forks/move_parallel of the re-run (repeatable; default: 8 and the count)")
    parser.add_argument("--json", default=os.path.join(REPO, "tests", "output", "move_benchmark.json"))
    args = parser.parse_args()
    lab = lab_for_moves()
    sampler = LoadSampler()
    sampler.start()
    results = {"started": time.strftime("%Y-%m-%d %H:%M:%S"), "machine": platform.platform(),
               "cores": os.cpu_count(), "repeat": args.repeat, "digest_seconds_per_gib": digest_speed(),
               "scenarios": {}}
    commit = subprocess.run(["git", "-C", REPO, "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            check=False).stdout.strip()
    results["commit"] = commit
    for scenario in [s for s in ["single", "eight", "rerun"] if s in (args.scenario or ["single", "eight", "rerun"])]:
        begun = time.time()
        if scenario == "rerun":
            results["rerun"] = rerun_scenario(lab, args.rerun_count, args.rerun_size_mib,
                                              sorted(set(args.rerun_forks or [8, args.rerun_count])), args.repeat)
            results["rerun"]["load_average"] = load_summary(sampler.between(begun, time.time()))
            write_json(args.json, results, sampler)
            continue
        count, size = SCENARIOS[scenario]
        if args.size_mib:
            size = args.size_mib if count == 1 else max(1, args.size_mib // 4)
        runs = {tool: [] for tool in TOOLS}
        for repeat in range(args.repeat):
            for tool in rotation(repeat):
                figures = one_run(lab, tool, count, size)
                runs[tool].append(figures)
                print("%s %s run %d: %.1f s, machine CPU %.1f s, controller CPU %.2f s, load %.1f-%.1f"
                      % (scenario, tool, repeat + 1, figures["seconds"], figures["machine_cpu_seconds"],
                         figures["controller_cpu_seconds"], *figures["load_average"]), flush=True)
                if figures.get("instances"):
                    steps = summarize_scenario({tool: [figures]})[0][tool]["steps"]
                    print("    steps (median over the instances): %s"
                          % ", ".join("%s %.2f" % item for item in steps.items()), flush=True)
        summary, ratios = summarize_scenario(runs)
        results["scenarios"][scenario] = {"instances": count, "disk_mib": size, "runs": runs, "median": summary,
                                          "ratio": ratios,
                                          "load_average": load_summary(sampler.between(begun, time.time()))}
        write_json(args.json, results, sampler)  # after each scenario: an interrupted run keeps what it measured
    sampler.stopping.set()
    write_json(args.json, results, sampler)
    print(report(results))


def write_json(path, results, sampler):
    results["load_average"] = load_summary([value for _stamp, value in sampler.samples])
    results["ended"] = time.strftime("%Y-%m-%d %H:%M:%S")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(results, handle, indent=2)


if __name__ == "__main__":
    main()
