"""Where the time of one move goes: a timeline of both clusters' jobs.

Runs one move on the lab (``GANETI_LAB_DIR``) with the playbook or with
Ganeti's move-instance, like ``move_benchmark.py`` does, then reads every job
the move caused on both clusters (``GET /2/jobs/ID``: ``received_ts``,
``start_ts``, ``end_ts`` and the log entries) and prints them relative to the
start of the command. Lines of a trace file (``FLEET_TRACE``, written by
whatever was told to write there) are merged into the timeline.

    GANETI_LAB_DIR=/var/tmp/lab-perf .venv/bin/python benchmarks/move_timeline.py \
        --tool playbook --count 1 --size 1024

This is a measuring aid, not a test: it asserts only that the data arrived.
"""

import argparse
import functools
import os
import sys
import time

import requests

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import move_benchmark as bench  # noqa: E402  pylint: disable=wrong-import-position


def _session(lab, cluster):
    info = lab.cluster(cluster)
    session = requests.Session()
    session.auth = (info["rapi_user"], lab.rapi_password(cluster))
    # Per request, not session.verify: an environment CA bundle would win over the session's.
    session.request = functools.partial(session.request, verify=info["ca_file"])
    return info["rapi_url"], session


def _jobs(lab, cluster):
    url, session = _session(lab, cluster)
    answer = session.get(url + "/2/jobs", params={"bulk": 1}, timeout=30)
    answer.raise_for_status()
    return url, session, {int(job["id"]): job for job in answer.json()}


def _stamp(value):
    if isinstance(value, (list, tuple)) and len(value) == 2:
        return value[0] + value[1] / 1e6
    return None


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--tool", choices=["direct", "ganeti", "playbook", "move-instance"], default="direct")
    parser.add_argument("--count", type=int, default=1)
    parser.add_argument("--size", type=int, default=1024, help="disk size in MiB")
    parser.add_argument("--forks", type=int, help="playbook forks/move_parallel (default: count)")
    parser.add_argument("--no-fix", action="store_true", help="do not apply the transfer fix first")
    args = parser.parse_args()
    lab = bench.lab_for_moves(transfer_fix=not args.no_fix)
    names = bench.names_for(args.tool, args.count)
    digests = bench.prepare(lab, names, args.size)
    before = {cluster: set(_jobs(lab, cluster)[2]) for cluster in ("c1", "c2")}
    trace = os.environ.get("FLEET_TRACE")
    if trace and os.path.exists(trace):
        os.unlink(trace)
    started = time.time()
    elapsed = bench.run_tool(args.tool, lab, names, forks=args.forks)
    rows = []
    for cluster in ("c1", "c2"):
        url, session, jobs = _jobs(lab, cluster)
        for job_id in sorted(set(jobs) - before[cluster]):
            job = session.get("%s/2/jobs/%d" % (url, job_id), timeout=30).json()
            received, start, end = (_stamp(job.get(k)) for k in ("received_ts", "start_ts", "end_ts"))
            what = "%s job %d %s" % (cluster, job_id, ",".join(job.get("summary") or []))
            rows.append((received, "%s received" % what))
            if start:
                rows.append((start, "%s start (queued %.2f s)" % (what, start - received)))
            if end:
                rows.append((end, "%s end (ran %.2f s) %s" % (what, end - (start or received),
                                                              job.get("status"))))
            for op_log in job.get("oplog") or []:
                for serial, stamp, kind, message in op_log:
                    text = message if isinstance(message, str) else kind
                    rows.append((_stamp(stamp), "%s   log %s: %s" % (cluster, serial, str(text)[:90])))
    if trace and os.path.exists(trace):
        with open(trace, encoding="utf-8") as handle:
            for line in handle:
                begin, finish, pid, rest = line.rstrip("\n").split(" ", 3)
                begin, finish = float(begin), float(finish)
                rows.append((begin, "trace pid %s %s (%.3f s)" % (pid, rest, finish - begin)))
    for stamp, text in sorted((r for r in rows if r[0] is not None), key=lambda r: r[0]):
        print("%7.2f  %s" % (stamp - started, text))
    print("%7.2f  command ended (%.2f s)" % (elapsed, elapsed))
    bench.verify_and_clean(lab, digests)
    print("data verified (sha256)")


if __name__ == "__main__":
    main()
