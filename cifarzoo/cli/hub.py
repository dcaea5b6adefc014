"""``cifarzoo hub add|export|push|table``: the maintainer's side of the published weights."""
from __future__ import annotations

import argparse

DESCRIPTION = """publish weights: measure a training run into the manifest, export a Hub folder, upload it

  cifarzoo hub add runs/resnet56 --name resnet56.cifar10 --data-dir ~/data [--default]
  cifarzoo hub export resnet56.cifar10 --out build/hub/resnet56.cifar10
  cifarzoo hub push resnet56.cifar10 [--repo ORG/REPO]
  cifarzoo hub table                    the README's weight table, from the manifest
"""


def _add_arguments(p):
    sub = p.add_subparsers(dest="hub_command", metavar="SUBCOMMAND")
    sub.required = True

    a = sub.add_parser("add", help="measure a finished training run and add it to weights_manifest.json")
    a.add_argument("run_dir", help="training run folder holding results.json and model.safetensors")
    a.add_argument("--name", required=True, help="weight name arch.tag, e.g. resnet56.cifar10 or resnet50.cifar100_sd")
    a.add_argument("--data-dir", required=True, help="folder holding the full CIFAR test set (pickle layout)")
    a.add_argument("--hf-hub-id", metavar="ORG/REPO", help="Hub repository (default: cifarzoo/<name>)")
    a.add_argument("--default", action="store_true",
                   help="make it the weight create_model(arch, pretrained=True) picks")
    a.add_argument("--also", nargs="+", default=[], metavar="RUN_DIR",
                   help="other seeds of the same recipe: listed in metrics.runs with mean and std")
    a.add_argument("--push", action="store_true", help="upload to the Hub now and pin the revision "
                                                        "(required for files over 4 MB)")
    a.add_argument("--replace", action="store_true", help="overwrite an existing entry of that name")
    a.add_argument("--device", default="cpu", help="where to measure (default cpu, the manifest's reference)")
    a.add_argument("--batch-size", type=int, default=256)
    a.add_argument("--token", help="Hub token (default: huggingface_hub's login / HF_TOKEN)")
    a.add_argument("--allow-partial-test-set", action="store_true", help=argparse.SUPPRESS)  # generated test data
    a.set_defaults(_hub_run=_run_add)

    e = sub.add_parser("export", help="write a Hub-ready folder: weight file, config.json, model card README.md")
    e.add_argument("name", help="weight name, e.g. resnet56.cifar10")
    e.add_argument("--out", required=True, metavar="DIR", help="output folder")
    e.add_argument("--weights-dir", metavar="DIR", help="local mirror to read the weight from")
    e.set_defaults(_hub_run=_run_export)

    u = sub.add_parser("push", help="upload a weight's exported folder and pin the commit in the manifest")
    u.add_argument("name", help="weight name, e.g. resnet56.cifar10")
    u.add_argument("--repo", metavar="ORG/REPO", help="target repository (default: the entry's hf_hub_id)")
    u.add_argument("--token", help="Hub token (default: huggingface_hub's login / HF_TOKEN)")
    u.add_argument("--private", action="store_true", help="create the repository as private")
    u.add_argument("--weights-dir", metavar="DIR", help="local mirror to read the weight from")
    u.set_defaults(_hub_run=_run_push)

    t = sub.add_parser("table", help="print the Markdown table of published weights (for the README)")
    t.set_defaults(_hub_run=_run_table)


def _run(args: argparse.Namespace) -> int:
    return args._hub_run(args)


def _run_add(args) -> int:
    from cifarzoo.hub import add_run

    entry = add_run(args.run_dir, args.name, args.data_dir, hf_hub_id=args.hf_hub_id, default=args.default,
                    also=args.also, push=args.push, replace=args.replace, device=args.device,
                    batch_size=args.batch_size, token=args.token,
                    require_full_test_set=not args.allow_partial_test_set)
    m = entry.metrics
    where = f"Hub {entry.hf_hub_id}@{entry.revision[:12]}" if entry.revision else f"weights/{entry.repo_name}/"
    print(f"added {entry.name}: top-1 {m['top1']:.2f}% top-5 {m['top5']:.2f}% on {m['num_images']:,} images, "
          f"{entry.dtype}, {entry.size:,} bytes, sha256 {entry.sha256[:12]}..., {where}"
          f"{' (default)' if entry.default else ''}")
    return 0


def _run_export(args) -> int:
    from cifarzoo.hub import export

    out = export(args.name, args.out, weights_dir=args.weights_dir)
    print(f"exported {args.name} to {out}: " + ", ".join(sorted(p.name for p in out.iterdir())))
    return 0


def _run_push(args) -> int:
    from cifarzoo.hub import push

    entry = push(args.name, repo_id=args.repo, token=args.token, private=args.private, weights_dir=args.weights_dir)
    print(f"pushed {entry.name} to {entry.hf_hub_id} at revision {entry.revision} (pinned in the manifest)")
    return 0


def _run_table(args) -> int:
    from cifarzoo.hub import markdown_table

    print(markdown_table(), end="")
    return 0


COMMANDS = {
    "hub": {"help": "publish weights: hub add | export | push | table", "description": DESCRIPTION,
            "add_arguments": _add_arguments, "run": _run},
}
