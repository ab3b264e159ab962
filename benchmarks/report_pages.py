"""What a run's report page costs: its size, and the seconds a run spends writing it.

A search or retraining imports the page writer once and calls it after every epoch and once at the end, in a
process where torch and cream are already loaded; so this script loads them first, then times the import of
``cream.reporting`` and ``--writes`` rewrites of RUN_DIR's page (the demo's search: 4 epochs + the end = 5).

    .venv/bin/python benchmarks/report_pages.py runs/search/fashion_mnist --writes 5
"""

from __future__ import annotations

import argparse
import json
import time

import cream  # noqa: F401  (torch, timm and cream loaded, as in a run)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir")
    parser.add_argument("--writes", type=int, default=5)
    args = parser.parse_args()
    began = time.perf_counter()
    from cream.reporting import write_report

    imported = time.perf_counter() - began
    seconds = []
    for _ in range(args.writes):
        began = time.perf_counter()
        page = write_report(args.run_dir)
        seconds.append(time.perf_counter() - began)
    print(json.dumps({"page": str(page), "bytes": page.stat().st_size, "import_s": round(imported, 2),
                      "write_s": [round(s, 2) for s in seconds], "total_s": round(imported + sum(seconds), 2)}))


if __name__ == "__main__":
    main()
