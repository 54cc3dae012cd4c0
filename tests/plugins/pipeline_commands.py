"""A test plugin file implementing `sft`, `merge-lora` and `infer` by writing marker files, so
that job files, output folders, args.json and torchrun dispatch can be tested without training."""

import json
import os

import swiftk


def fake_sft(args):
    if os.environ.get("FAKE_SFT_FAIL"):
        return 3
    rank = os.environ.get("RANK", "0")
    os.makedirs(args.output_dir, exist_ok=True)
    with open(os.path.join(args.output_dir, f"rank{rank}.json"), "w") as f:
        json.dump(
            {
                "rank": rank,
                "world_size": os.environ.get("WORLD_SIZE"),
                "model_name": args.model_name,
                "model": args.model,
            },
            f,
        )
    if rank == "0":
        for step in (5, 10):
            ckpt = os.path.join(args.output_dir, f"checkpoint-{step}")
            os.makedirs(ckpt, exist_ok=True)
            with open(os.path.join(ckpt, "adapter.txt"), "w") as f:
                f.write(f"trained {step} steps of {args.model} as {args.model_name}")
    return 0


def fake_merge(args):
    adapter = args.adapters[0]
    merged = adapter.rstrip("/") + "-merged"
    os.makedirs(merged, exist_ok=True)
    with open(os.path.join(adapter, "adapter.txt")) as src, open(os.path.join(merged, "model.txt"), "w") as dst:
        dst.write("merged " + src.read())
    return 0


def fake_infer(args):
    with open(os.path.join(args.model, "model.txt")) as f:
        print("ANSWER:", f.read())
    print("SEED", args.seed)
    return 0


@swiftk.hookimpl
def register_commands(register):
    register("sft", fake_sft)
    register("merge-lora", fake_merge)
    register("infer", fake_infer)
