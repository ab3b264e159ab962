"""The ``cream`` command line: it parses arguments, calls ``cream.api`` and prints the result. Errors are one line."""

from __future__ import annotations

import argparse
import sys

from cream import api
from cream.errors import CreamError, RunInterrupted


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line instead of usage + message
        raise CreamError(f"{self.prog}: {message} (see {self.prog} --help)")


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be at least 1")
    return value


def _number(text):
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None


def _shard(text):
    index, sep, count = text.partition("/")
    try:
        index, count = int(index), int(count)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not i/n, e.g. 1/2") from None
    if not sep or not 1 <= index <= count:
        raise argparse.ArgumentTypeError(f"{text!r} must be i/n with 1 <= i <= n, e.g. 2/3")
    return index, count


def _add_net_options(p, resolution_default=None):
    p.add_argument("--resolution", type=_positive_int, default=resolution_default, help="input side in pixels")
    p.add_argument("--num-classes", type=_positive_int, default=1000)
    p.add_argument("--in-chans", type=_positive_int, default=3)
    p.add_argument("--width", type=_number, default=1.0, help="channel width multiplier")
    p.add_argument("--stem-stride", type=int, default=None)
    p.add_argument("--stage-strides", type=lambda t: [int(v) for v in t.split(",")], default=None,
                   help="five comma-separated strides, e.g. 1,2,2,1,2")


def _net_options(args) -> dict:
    return {"num_classes": args.num_classes, "in_chans": args.in_chans, "width": args.width,
            "stem_stride": args.stem_stride, "stage_strides": args.stage_strides}


def cmd_arch(args):
    print(api.arch(args.arch, resolution=args.resolution, latency_table=args.latency_table, **_net_options(args)))


def cmd_space(args):
    print(api.space(flops_min=args.flops_min, flops_max=args.flops_max, latency_table=args.latency_table,
                    latency_min=args.latency_min, latency_max=args.latency_max, depth_rule=args.depth_rule,
                    elastic_depth=args.elastic_depth, resolution=args.resolution, **_net_options(args)).text)


def cmd_latency_table(args):
    result = api.latency_table(args.out, resolution=args.resolution, device=args.device, batch=args.batch,
                               threads=args.threads, channels_last=not args.no_channels_last, bf16=args.bf16,
                               repeats=args.repeats, warmup=args.warmup, log=lambda line: print(line, flush=True),
                               **_net_options(args))
    print(result.text)
    print(f"wrote {args.out}; search with it: cream search space.latency_table={args.out} space.latency_max=MS")


def _run_options(args) -> dict:
    """The keyword arguments of ``cream.search`` / ``cream.retrain`` from a search or retrain command line."""
    preset, overrides = args.config, list(args.overrides)
    if preset is not None and "=" in preset:  # no preset named: the first word is an override
        preset, overrides = None, [preset, *overrides]
    if args.quiet:
        overrides.append("run.quiet=true")
    return {"preset": preset, "data": args.data, "official": args.official, "overrides": overrides,
            "force": args.force}


def _preset_and_data(args) -> tuple[str | None, str | None]:
    """The preset and data of a search or retrain command line, for ``--keys``."""
    return _run_options(args)["preset"], args.data


def cmd_search(args):
    if args.keys:
        print(api.keys("search", *_preset_and_data(args)))
        return
    result = api.search(**_run_options(args))
    if not api.is_main_process():
        return
    done = "already finished: " if result.already_finished else ""
    latency = f"{result.latency_ms:.3g} ms predicted latency, " if result.latency_ms is not None else ""
    print(f"{done}chosen architecture {result.arch}  ({result.flops:.2f} M multiply-adds, {latency}"
          f"{result.params:.2f} M params, search-val top-1 {result.val_top1:.2f}%)")
    table = ", latency_table.json" if result.latency_table else ""
    print(f"results in {result.config['run']['out_dir']}: result.json, summary.csv, search.png, search.log, "
          f"report.html, tensorboard/{table}")


def cmd_subset(args):
    result = api.subset(args.src, args.dst, classes=args.classes, class_list=args.class_list,
                        image_list=args.image_list, train_per_class=args.train_per_class,
                        val_per_class=args.val_per_class, seed=args.seed, force=args.force, copy=args.copy)
    ways = ", ".join(f"{n} as {way}s" for way, n in result.ways.items() if n)
    print(f"{len(result.classes)} classes, {len(result.files['train'])} train and {len(result.files['val'])} val "
          f"images ({ways}) in {args.dst}, listed in classes.txt and images.txt")
    print(f"use it with --data {args.dst}")


def cmd_rankcorr(args):
    if args.keys:
        print(api.keys("rankcorr"))
        return
    result = api.rankcorr(args.supernet, merge=args.merge, compare=args.compare, overrides=args.overrides,
                          paths=args.paths, paths_file=args.paths_file, flops_min=args.flops_min,
                          flops_max=args.flops_max, strata=args.strata, seeds=args.seeds, epochs=args.epochs,
                          seed=args.seed, out=args.out, shard=args.shard, bootstrap=args.bootstrap,
                          force=args.force, quiet=args.quiet)
    if result.report is None:  # other shards have paths left
        return
    print(result.text)
    if args.compare:
        if args.out:
            print(f"written to {args.out}: compare.json, compare.csv, compare.png")
    else:
        print(f"results in {result.out}: rankcorr.json, rankcorr.csv, rankcorr.png")
        if result.page:
            print(f"report: {result.page}")


def _numbers(text):
    """A comma-separated list of non-negative numbers (budgets), e.g. 2,4,8."""
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of numbers, e.g. 2,4,8") from None
    if any(v != v or v < 0 for v in values):
        raise argparse.ArgumentTypeError(f"{text!r} must hold non-negative numbers, e.g. 2,4,8")
    return values


def cmd_select(args):
    if args.keys:
        print(api.keys("select"))
        return
    result = api.select(args.supernet, flops_max=args.flops_max, flops_min=args.flops_min,
                        latency_table=args.latency_table, latency_max=args.latency_max, latency_min=args.latency_min,
                        method=args.method, out=args.out, seed=args.seed, overrides=args.overrides, force=args.force)
    unit = "ms" if result.cost == "latency_ms" else "M multiply-adds"
    for name, pick in result.picks.items():
        print(f"budget {name}: {pick['arch']}  ({pick[result.cost]:.3g} {unit}, search-val top-1 "
              f"{pick['val_top1']:.2f}%; retrain it with retrain.arch={result.written_to}:{name})")
    print(f"report: {result.page}")


def _add_run_options(p, kind):
    p.add_argument("config", nargs="?", default=None,
                   help=f"a preset name under configs/{kind}/ or a YAML file (default: fashion_mnist, or "
                        "imagefolder for an image folder)")
    p.add_argument("overrides", nargs="*", help="config overrides as section.key=value")
    p.add_argument("--data", help="fashion_mnist, a Fashion-MNIST folder, or an image folder with train/CLASS/ "
                                  "(classes, channels, resolution and run folder are then taken from it)")
    p.add_argument("--force", action="store_true", help="replace an existing run in run.out_dir")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--keys", action="store_true", help="list every config key with the value a run would start "
                                                       "from (the preset named, else the default one) and its meaning")
    p.add_argument("--official", metavar="FILE.yaml", help=f"a config file of the paper's code (experiments/configs/"
                                                          f"{'train' if kind == 'search' else kind}/*.yaml), mapped to "
                                                          "our keys; overrides may use its keys (KEY=value) or ours")


def cmd_retrain(args):
    if args.keys:
        print(api.keys("retrain", *_preset_and_data(args)))
        return
    result = api.retrain(**_run_options(args), init=args.init)
    if not api.is_main_process():
        return
    done = "already finished: " if result.already_finished else ""
    print(f"{done}retrained {result.arch}: best val top-1 {result.best_top1:.2f}% at epoch "
          f"{result.best_epoch} ({result.weights} weights) in {result.elapsed_s / 60:.1f} min")
    print(f"results in {result.config['run']['out_dir']}: best.pth, last.pth, result.json, summary.csv, "
          "retrain.log, report.html, tensorboard/; "
          f"test with: cream test --checkpoint {result.checkpoint}")


def cmd_test(args):
    if args.keys:
        print(api.keys("test"))
        return
    report = api.test(args.checkpoint, data=args.data, arch=args.arch, resolution=args.resolution, plain=args.plain,
                      latency_table=args.latency_table, out=args.out, official=args.official,
                      overrides=args.overrides)
    if not api.is_main_process():
        return
    for name, r in report.results.items():
        print(f"test top-1 {r['top1']:.2f}%  top-5 {r['top5']:.2f}%  loss {r['loss']:.4f}  ({name} weights, "
              f"{r['images']} {report.data['split']} images of {report.data['dataset']})")
    one, big = report.latency
    print(f"{report.arch} at {report.net['resolution']} px: {report.params:.2f} M params, "
          f"{report.macs:.2f} M multiply-adds; latency on {report.device}: {one['ms']:.2f} ms at batch 1, "
          f"{big['ms']:.1f} ms at batch {big['batch']} ({big['images_per_s']:.0f} images/s)")
    if report.latency_table:
        t = report.latency_table
        print(f"latency at batch {t['batch']}, {t['threads']} thread(s): predicted {t['predicted_ms']:.3g} ms, "
              f"measured {t['measured_ms']:.3g} ms (table {t['file']})")
    print(f"wrote {report.written_to}")
    if report.page:
        print(f"report: {report.page}")


def cmd_report(args):
    from cream import api

    print(api.report(*args.runs, out=args.out).line())


def _formats(text):
    formats = [f.strip() for f in text.split(",") if f.strip()]
    unknown = [f for f in formats if f not in ("onnx", "torchscript", "safetensors")]
    if unknown or not formats:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of onnx, torchscript, safetensors")
    return formats


def cmd_export(args):
    if args.keys:
        print(api.keys("export"))
        return
    given = {"supernet": args.supernet, "arch": args.arch, "formats": args.format, "resolution": args.resolution,
             "out": args.out, "data": args.data}
    result = api.export(args.checkpoint, plain=args.plain, overrides=args.overrides,
                        **{k: v for k, v in given.items() if v is not None})
    for fmt, written in result.files.items():
        print(f"wrote {written['path']}  ({fmt}; {result.weights} weights of {result.arch}; largest difference "
              f"from PyTorch {written['max_abs_diff']:.1e} on logits up to {written['logit_scale']:.3g})")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="cream", description="One-shot NAS by prioritized path distillation (Cream).")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("arch", help="show an architecture: stage table, output shape, params, multiply-adds")
    p.add_argument("arch", help="a paper model (cream_481, 481 or the README's 470) or an architecture like "
                                  "3-33-313-3333-333")
    _add_net_options(p)
    p.add_argument("--latency-table", help="also print the latency this table predicts and the latency measured here "
                                           "as the table was (its device, batch, threads)")
    p.set_defaults(func=cmd_arch)

    p = sub.add_parser("space", help="plan the search space for a FLOPs and/or latency budget")
    p.add_argument("--flops-min", type=_number, default=0.0, help="million multiply-adds")
    p.add_argument("--flops-max", type=_number, help="million multiply-adds (default: no limit)")
    p.add_argument("--latency-table", help="a table made by cream latency-table, for --latency-min/--latency-max")
    p.add_argument("--latency-min", type=_number, default=0.0, help="milliseconds of predicted latency")
    p.add_argument("--latency-max", type=_number, help="milliseconds of predicted latency (default: no limit)")
    p.add_argument("--depth-rule", choices=("greedy", "paper"), default="greedy",
                   help="how depths grow from the budget (space.depth_rule; default: greedy)")
    p.add_argument("--elastic-depth", action="store_true",
                   help="paths may use the first 1..d blocks of each stage (space.elastic_depth)")
    _add_net_options(p, resolution_default=224)
    p.set_defaults(func=cmd_space)

    p = sub.add_parser("latency-table", help="measure every op at every block position on this device: a table of "
                                             "milliseconds for searching under a latency budget")
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu", help="where to measure (default cpu)")
    p.add_argument("--batch", type=_positive_int, default=1, help="images per forward pass (default 1)")
    p.add_argument("--threads", type=_positive_int, help="CPU threads (default: PyTorch's, one per core)")
    p.add_argument("--repeats", type=_positive_int, default=20, help="timed passes per op (the median is kept)")
    p.add_argument("--warmup", type=int, default=5, help="untimed passes per op before timing")
    p.add_argument("--no-channels-last", action="store_true", help="contiguous tensors (like run.channels_last=false)")
    p.add_argument("--bf16", action="store_true", help="bf16 autocast on cuda (like run.bf16=true)")
    p.add_argument("--out", required=True, help="the JSON file to write")
    _add_net_options(p)
    p.set_defaults(func=cmd_latency_table)

    p = sub.add_parser("search", help="search: train the supernet with prioritized paths, pick an architecture")
    _add_run_options(p, "search")
    p.set_defaults(func=cmd_search)

    p = sub.add_parser("retrain", help="retrain an architecture from scratch (or fine-tune with --init)")
    _add_run_options(p, "retrain")
    p.add_argument("--init", help="start from these weights (our checkpoint or a released one)")
    p.set_defaults(func=cmd_retrain)

    p = sub.add_parser("test", help="test a checkpoint: top-1/top-5/loss, size, latency; writes test.json")
    p.add_argument("overrides", nargs="*", help="config overrides as section.key=value (see --keys)")
    p.add_argument("--checkpoint", help="our .pth, a released .pth.tar or an exported .safetensors (default with "
                                        "--data DIR: runs/retrain/<DIR's name>/best.pth)")
    p.add_argument("--arch", help="for files that hold no architecture: a paper model (cream_287, 287, the README's "
                                  "285) or a string like 3-33-313-3333-333")
    p.add_argument("--data", help="fashion_mnist, a Fashion-MNIST folder, or an image folder (its test/, else val/; "
                                  "default: the data the checkpoint was trained on)")
    p.add_argument("--resolution", type=_positive_int, help="test resolution (default: the checkpoint's)")
    p.add_argument("--plain", action="store_true", help="also test the plain weights of a checkpoint with EMA")
    p.add_argument("--latency-table", help="also report the latency this table predicts beside one measured as the "
                                           "table was")
    p.add_argument("--out", help="where to write test.json (default: beside the checkpoint)")
    p.add_argument("--keys", action="store_true", help="list every config key with the value a run would start "
                                                       "from (the preset named, else the default one) and its meaning")
    p.add_argument("--official", metavar="FILE.yaml", help="a test config of the paper's code (experiments/configs/"
                                                          "test/test.yaml): its RESUME_PATH, NET.SELECTION, DATA_DIR")
    p.set_defaults(func=cmd_test)

    p = sub.add_parser("export", help="export a checkpoint or a supernet path to ONNX, TorchScript, safetensors")
    p.add_argument("overrides", nargs="*", help="config overrides as section.key=value (see --keys)")
    source = p.add_mutually_exclusive_group()
    source.add_argument("--checkpoint", help="our .pth, a released .pth.tar or a .safetensors")
    source.add_argument("--supernet", help="a search checkpoint (last.pth): export the path --arch")
    p.add_argument("--arch", help="the path to extract, or the architecture of a file that holds none")
    p.add_argument("--format", type=_formats, help="onnx, torchscript and/or safetensors, comma-separated "
                                                 "(default: all three)")
    p.add_argument("--data", help="supernet: the training data to recalibrate BatchNorm on (default: the search's)")
    p.add_argument("--resolution", type=_positive_int, help="input side of the exported model")
    p.add_argument("--plain", action="store_true", help="export the plain weights even when there are EMA weights")
    p.add_argument("--out", help="output path without suffix (default: beside the input)")
    p.add_argument("--keys", action="store_true", help="list every config key with its default and meaning")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("subset", help="write a class/count subset of an ImageFolder tree (subImageNet-style)")
    p.add_argument("--src", required=True, help="an ImageFolder tree with train/CLASS/* and val/CLASS/*; never changed")
    p.add_argument("--dst", required=True, help="an empty (or new) folder for the subset")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--classes", type=_positive_int, default=100, help="classes to draw with --seed (default 100)")
    which.add_argument("--class-list", help="a file with the class folder names to keep, one per line")
    which.add_argument("--image-list", help="exactly the images listed, one per line as train/CLASS/FILE, "
                                            "val/CLASS/FILE, CLASS/FILE or FILE (train/), or the paper's "
                                            "data/subimages_list.txt (a list of file names per line); without val/ "
                                            "lines, val/ gets --val-per-class images of each listed class")
    p.add_argument("--train-per-class", type=_positive_int, default=250, help="train images per class (default 250)")
    p.add_argument("--val-per-class", type=_positive_int, default=50, help="val images per class (default 50)")
    p.add_argument("--seed", type=int, default=0, help="seed of the class and image draws (same seed, same subset)")
    p.add_argument("--force", action="store_true", help="replace an earlier subset in --dst")
    p.add_argument("--copy", action="store_true", help="copy the images instead of linking them")
    p.set_defaults(func=cmd_subset)

    p = sub.add_parser("report", help="write a run's report page (report.html), or one page comparing runs")
    p.add_argument("runs", nargs="+", metavar="RUN_DIR",
                   help="a run folder (search, retrain, test, rankcorr or select); several: one page comparing them")
    p.add_argument("--out", help="where to write the page (default: RUN_DIR/report.html; comparing: compare.html "
                                 "beside the first run's folder)")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser(
        "select", help="pick the best path of a trained supernet for one budget or several (SPOS's evolution)",
        description="For each budget, search the trained supernet for its best path: SPOS's evolutionary search "
                    "(Guo et al., 2020) or random paths, each path scored once on search-val with BatchNorm "
                    "recalibrated. Writes select.json: the pick per budget, every scored path and the Pareto front. "
                    "Evolution's sizes are keys, sized for a CPU by default: evolution.population=8 (SPOS: 50), "
                    "evolution.top_k=3 (10), evolution.mutations=4 (25), evolution.crossovers=4 (25), "
                    "evolution.generations=4 (20), evolution.mutation_prob=0.1 (0.1): 32 paths per budget, SPOS "
                    "1,000. Retrain a pick with `cream retrain retrain.arch=SELECT.json:BUDGET`.")
    p.add_argument("overrides", nargs="*", help="config overrides as section.key=value (see --keys); data.* default "
                                                 "to the supernet's own")
    p.add_argument("--supernet", help="a search checkpoint (RUN/last.pth)")
    p.add_argument("--flops-max", type=_numbers, help="million multiply-adds: one limit, or several (2,4,8) for one "
                                                      "budget each (default: the search's own)")
    p.add_argument("--flops-min", type=_number, help="million multiply-adds, the floor of every budget (default 0)")
    p.add_argument("--latency-table", help="a table by cream latency-table for the supernet's net, made on the device "
                                           "to deploy on: for --latency-max, and the front's cost")
    p.add_argument("--latency-max", type=_numbers, help="milliseconds predicted by --latency-table: one limit, or "
                                                        "several (5,10) for one budget each")
    p.add_argument("--latency-min", type=_number, help="milliseconds, the floor of every budget (default 0)")
    p.add_argument("--method", choices=("evolution", "random"), help="evolution (default), or as many random "
                                                                     "in-budget paths as evolution scores at most")
    p.add_argument("--seed", type=int, help="seed of the search (run.seed; default 0)")
    p.add_argument("--out", help="the run folder (default: runs/select/<the search's folder name>)")
    p.add_argument("--force", action="store_true", help="replace an earlier select.json in the run folder")
    p.add_argument("--keys", action="store_true", help="list every config key with its default and meaning")
    p.set_defaults(func=cmd_select)

    p = sub.add_parser("rankcorr", help="rank correlation of weight-sharing and stand-alone accuracy of paths")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--supernet", help="a search checkpoint (RUN/last.pth) to study")
    mode.add_argument("--merge", metavar="DIR", help="report a study whose shards' results-*.jsonl are all in DIR")
    mode.add_argument("--compare", nargs=2, metavar=("RUN_A", "RUN_B"),
                      help="two finished studies side by side, with tau(A) - tau(B) and its bootstrap interval")
    p.add_argument("overrides", nargs="*", help="config overrides as section.key=value (see --keys); data.* default "
                                                 "to the supernet's own")
    p.add_argument("--paths", type=_positive_int, help="distinct in-budget paths to sample (default 30)")
    p.add_argument("--paths-file", help="take the paths from this file (one architecture per line, e.g. paths.txt)")
    p.add_argument("--flops-min", type=_number, help="million multiply-adds (default: the supernet's range)")
    p.add_argument("--flops-max", type=_number, help="million multiply-adds (default: the supernet's range)")
    p.add_argument("--strata", type=_positive_int, help="sample the paths evenly from this many FLOPs bins (default 1)")
    p.add_argument("--seeds", type=_positive_int,
                   help="stand-alone trainings per path; 2 or more measure the seed noise (default 1)")
    p.add_argument("--epochs", type=_positive_int, help="stand-alone training epochs per path (default 5)")
    p.add_argument("--seed", type=int, help="seed of the path draw, the trainings and the bootstrap (default 0)")
    p.add_argument("--out", help="study folder (default runs/rankcorr); with --compare, where to write compare.*")
    p.add_argument("--shard", type=_shard, default=(1, 1), metavar="I/N",
                   help="measure only every N-th path starting at the I-th (run I = 1..N anywhere, then --merge)")
    p.add_argument("--bootstrap", type=_positive_int, default=5000, help="--compare: bootstrap resamples")
    p.add_argument("--force", action="store_true", help="delete the study in --out (all shards' results) first")
    p.add_argument("--quiet", action="store_true", help="no per-epoch lines")
    p.add_argument("--keys", action="store_true", help="list every config key with its default and meaning")
    p.set_defaults(func=cmd_rankcorr)
    return parser


def _parse(parser: argparse.ArgumentParser, argv: list[str]) -> argparse.Namespace:
    """Parse ``argv``, letting key=value overrides come after options too (``--quiet run.threads=1``)."""
    args, extra = parser.parse_known_args(argv)
    if extra and hasattr(args, "overrides") and all("=" in e and not e.startswith("-") for e in extra):
        args.overrides = [*args.overrides, *extra]
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    return args


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    debug = "--debug" in argv
    try:
        args = _parse(build_parser(), argv)
        args.func(args)
        return 0
    except RunInterrupted as e:  # before CreamError, its base class: a stop on request is not a failure
        print(f"{e}", file=sys.stderr)
        return 130
    except CreamError as e:
        _fail(e, debug)
        return 2
    except KeyboardInterrupt:
        print("interrupted; what was saved is kept: run the same command again to resume", file=sys.stderr)
        return 130
    except Exception as e:  # a bug: still one line, with the way to learn more
        _fail(e, debug, prefix=f"unexpected {type(e).__name__}: ", suffix=" (rerun with --debug and report it)")
        return 1


def _fail(error: BaseException, debug: bool, prefix: str = "", suffix: str = "") -> None:
    if debug:
        import traceback

        traceback.print_exception(error)
    print(f"error: {prefix}{one_line(error)}{suffix}", file=sys.stderr)


def one_line(error: BaseException) -> str:
    """The message of an error on one line (errors re-raised from DataLoader workers carry a traceback)."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    if not lines:
        return type(error).__name__
    last = lines[-1]
    return last.split("CreamError: ", 1)[-1] if len(lines) > 1 else last


if __name__ == "__main__":
    sys.exit(main())
