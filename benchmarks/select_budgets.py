"""Search once, pick for many budgets, measured on Fashion-MNIST (issue 33).

    .venv/bin/python benchmarks/select_budgets.py --budgets 2,4,8 --seeds 0 1 --threads 1

For each seed:

1. one supernet: ``cream search whole_space`` (its own final pick cut to one random path: only the supernet is
   used), then ``cream select --flops-max BUDGETS`` (evolution) on it;
2. one search per budget: ``cream search fashion_mnist space.flops_max=B``, as a user without select would;
3. every pick of both arms retrained with the demo's recipe (``cream retrain fashion_mnist``) and tested on the
   Fashion-MNIST test set (``cream test``);
4. evolution against random at equal evaluations: ``cream select --method random`` on the same supernet and
   budgets; the best search-val top-1 after each evaluation, per budget (``curve`` in select.json).

Reported: the time of each arm (the supernet + select against the searches), select's seconds per budget
against one search's, each pick's test top-1, and the two curves. Every figure is printed as one JSON line as soon
as it is known and saved in OUT/select_budgets.json. Run it again with the same arguments after a kill: it skips
what it has and the runs resume, so times are the runs' own records (a search's elapsed_s), not this script's clock.
``--search-keys``, ``--select-keys`` and ``--retrain-keys`` add key=value overrides to every run of that kind
(e.g. short schedules for a trial run: see ``--minimal``).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import cream
import cream.api
from cream.engine.logs import write_text_atomic

# A trial that only shows the script runs end to end: tiny data and schedules, not figures to report.
MINIMAL = {
    "search": ["data.train_per_class=40", "search.epochs=1", "search.warmup_epochs=0", "search.val_images=100",
               "search.probe_steps=0", "search.candidates=2", "search.bn_batches=1", "run.quiet=true"],
    "select": ["select.val_images=100", "select.bn_batches=1", "evolution.population=3", "evolution.top_k=2",
               "evolution.mutations=1", "evolution.crossovers=1", "evolution.generations=2"],
    "retrain": ["data.train_per_class=40", "retrain.epochs=1", "run.quiet=true"],
}


class Record:
    """The figures so far, in OUT/select_budgets.json: written after each one, read back when the script is run again
    (a step whose figures are there is skipped, so a killed benchmark resumes; runs resume through run.resume)."""

    def __init__(self, file: Path, header: dict):
        self.file = file
        self.values = json.loads(file.read_text()) if file.exists() else header

    def __contains__(self, key: str) -> bool:
        return key in self.values

    def __getitem__(self, key: str):
        return self.values[key]

    def emit(self, key: str, value) -> None:
        """One figure: printed as a JSON line and saved now."""
        self.values[key] = value
        print(json.dumps({key: value}), flush=True)
        write_text_atomic(self.file, json.dumps(self.values, indent=2))


def retrain_and_test(arch: str, out: Path, seed: int, keys: list[str]) -> float:
    """Test top-1 of ``arch`` after the demo's retrain (resumed where a killed one left off)."""
    trained = cream.retrain("fashion_mnist", arch=arch, overrides=[f"run.out_dir={out}", f"run.seed={seed}", *keys])
    return cream.test(trained.checkpoint).top1


def selection(supernet: str, budgets: list[float], out: Path, method: str, seed: int, keys: list[str]):
    """cream select's picks for ``budgets``, or the select.json an earlier run of this script left in ``out``."""
    written = out / "select.json"
    if written.exists():
        return cream.api.SelectResult.from_dict({**json.loads(written.read_text()), "written_to": str(written)})
    return cream.select(supernet, flops_max=budgets, method=method, out=str(out), seed=seed, overrides=keys)


def one_seed(seed: int, budgets: list[float], out: Path, keys: dict, record: Record) -> None:
    """Times are the runs' own (elapsed_s of a search, seconds of each budget of a selection): they survive a resume."""
    tag = f"seed{seed}"
    whole = cream.search("whole_space", overrides=[
        f"run.out_dir={out / 'whole_space'}", f"run.seed={seed}", "search.final=random", "search.candidates=1",
        *keys["search"]])
    record.emit(f"{tag}/whole_space_search_s", whole.elapsed_s)
    supernet = str(out / "whole_space" / "last.pth")
    picked = selection(supernet, budgets, out / "select", "evolution", seed, keys["select"])
    select_s = sum(p["seconds"] for p in picked.picks.values())
    record.emit(f"{tag}/select_s_per_budget", {b: p["seconds"] for b, p in picked.picks.items()})
    record.emit(f"{tag}/one_supernet_total_s", whole.elapsed_s + select_s)
    drawn = selection(supernet, budgets, out / "select_random", "random", seed, keys["select"])
    record.emit(f"{tag}/curves", {b: {"evolution": picked.picks[b]["curve"], "random": drawn.picks[b]["curve"]}
                                  for b in picked.picks})

    for name, pick in picked.picks.items():
        found = cream.search("fashion_mnist", overrides=[
            f"space.flops_max={name}", f"run.out_dir={out / f'search_{name}'}", f"run.seed={seed}", *keys["search"]])
        record.emit(f"{tag}/search_{name}", {"seconds": found.elapsed_s, "arch": found.arch, "flops": found.flops,
                                             "val_top1": found.val_top1})
        record.emit(f"{tag}/select_{name}", {"arch": pick["arch"], "flops": pick["flops"],
                                             "val_top1": pick["val_top1"], "seconds": pick["seconds"]})
        if f"{tag}/test_top1_{name}" not in record:
            record.emit(f"{tag}/test_top1_{name}", {
                "select": retrain_and_test(f"{picked.written_to}:{name}", out / f"retrain_select_{name}", seed,
                                           keys["retrain"]),
                "search": retrain_and_test(str(out / f"search_{name}" / "result.json"),
                                           out / f"retrain_search_{name}", seed, keys["retrain"])})
    record.emit(f"{tag}/separate_searches_total_s", sum(record[f"{tag}/search_{b}"]["seconds"] for b in picked.picks))
    record.emit(f"{tag}/select_s_per_budget_over_one_search_s", {
        b: p["seconds"] / record[f"{tag}/search_{b}"]["seconds"] for b, p in picked.picks.items()})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--budgets", default="2,4,8", help="million multiply-adds, comma-separated")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--threads", type=int, default=1, help="run.threads of every run")
    parser.add_argument("--out", default="runs/bench/select_budgets")
    parser.add_argument("--minimal", action="store_true", help="tiny data and schedules: a trial run, no figures")
    for kind in MINIMAL:
        parser.add_argument(f"--{kind}-keys", nargs="*", default=[], help=f"key=value overrides of every {kind}")
    args = parser.parse_args()
    budgets = [float(b) for b in args.budgets.split(",")]
    keys = {kind: [f"run.threads={args.threads}", *(MINIMAL[kind] if args.minimal else []),
                   *getattr(args, f"{kind}_keys")] for kind in MINIMAL}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    record = Record(out / "select_budgets.json", {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "budgets": budgets, "keys": keys,
        "minimal": args.minimal})
    if (record["budgets"], record["keys"]) != (budgets, keys):
        raise SystemExit(f"{record.file} holds figures of other budgets or keys; choose another --out")
    for seed in args.seeds:
        one_seed(seed, budgets, out / f"seed{seed}", keys, record)
    print(f"figures in {record.file}")


if __name__ == "__main__":
    main()
