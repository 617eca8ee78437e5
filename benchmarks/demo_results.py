"""Run ``robust-snn demo`` once and commit what it printed: the source of the README's demo table.

Runs the real command (``robust-snn demo --out WORK --threads 1``, CPU) in a subprocess, then writes into
``--results`` (default ``benchmarks/results_demo``):

- ``scorecards.json``: the demo's score cards, with their diagnosis and advice (the demo is deterministic: the
  same seed gives the same bytes on one machine);
- ``run.json``: the facts of the run: command, UTC date, threads, the demo's own total time, the time estimate
  it printed after training the standard network, and the 5-minute load average at the end (the machine is
  shared; the time means little without it);
- ``report/README.md``: the report index (the table of every profile and the first thing to try).

Then ``python benchmarks/readme_tables.py`` renders the README's table from these files.

Usage::

    python benchmarks/demo_results.py [--quick] [--work /tmp/demo-full] [--results benchmarks/results_demo]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from robust_snn.io.atomic import write_bytes_atomic, write_json_atomic  # noqa: E402

ESTIMATE = re.compile(r"\[demo\] standard took (\d+) s; estimated: about (\d+) s more, (\d+) s in all")
DONE = re.compile(r"\[demo\] done in (\d+) s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--work", default="/tmp/demo-full", help="folder the demo writes into (replaced)")
    parser.add_argument("--results", default=str(ROOT / "benchmarks" / "results_demo"))
    parser.add_argument("--quick", action="store_true", help="the --quick demo (for trying this script out)")
    args = parser.parse_args(argv)
    work, results = Path(args.work), Path(args.results)
    shutil.rmtree(work, ignore_errors=True)
    command = ["robust-snn", "demo", "--out", str(work), "--threads", "1", "--accelerator", "cpu",
               *(["--quick"] if args.quick else [])]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "robust_snn", *command[1:]], env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    sys.stdout.write(proc.stdout)
    sys.stderr.write(proc.stderr[-4000:])
    if proc.returncode != 0:
        print(f"demo failed with exit status {proc.returncode}", file=sys.stderr)
        return 1
    text = proc.stdout + proc.stderr
    estimate, done = ESTIMATE.search(text), DONE.search(text)
    results.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(work / "scorecards.json", results / "scorecards.json")
    index = (work / "report" / "README.md").read_text().replace(str(work), "demo-out")
    (results / "report").mkdir(exist_ok=True)
    write_bytes_atomic(results / "report" / "README.md", index.encode())
    run = {
        "command": "robust-snn demo --out demo-out" + (" --quick" if args.quick else ""),
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d"),
        "threads": 1,
        "seconds": int(done.group(1)) if done else round(wall),
        "wall_seconds_with_start_up": round(wall, 1),
        "estimated_seconds": int(estimate.group(3)) if estimate else None,
        "load_average": round(os.getloadavg()[1], 2),
    }
    write_json_atomic(results / "run.json", run)
    print(json.dumps(run))
    return 0


if __name__ == "__main__":
    sys.exit(main())
