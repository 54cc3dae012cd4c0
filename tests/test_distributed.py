"""Past one process on CPU (gloo, the real torchrun and DeepSpeed): the proof that the scaling is real (2 ranks x
batch B end with the weights of 1 rank x batch 2B, for DDP, ZeRO-2 and ZeRO-3), the DeepSpeed presets and a
JSON file, ZeRO-3 checkpoints in infer and export, DPO and GRPO under ZeRO-3, two nodes of two ranks, and the
refusals before loading (a node without its master, --fsdp on CPU, a job too big for memory)."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from kernel_support import TEST_PLUGINS, run_swiftk

pytest.importorskip("torch")
pytest.importorskip("deepspeed")

#: the demo model and data, two steps, each rank's report (tests/plugins/rank_report.py)
COMMON = [
    "--model",
    "swiftk/tiny-chat",
    "--dataset",
    "swiftk/demo-sft",
    "--split_dataset_ratio",
    "0",
    "--max_steps",
    "2",
    "--add_version",
    "false",
    "--report_to",
    "none",
    "--save_only_model",
    "true",
    "--external_plugins",
    str(TEST_PLUGINS / "rank_report.py"),
]
#: full training that any correct data-parallel engine reproduces exactly: plain SGD at a fixed rate, no
#: clipping, no dropout (the demo model has none), the loss averaged over the tokens of every rank
EQUIVALENT = [
    "--train_type",
    "full",
    "--optim",
    "sgd",
    "--learning_rate",
    "0.1",
    "--lr_scheduler_type",
    "constant",
    "--warmup_ratio",
    "0",
    "--max_grad_norm",
    "0",
    "--average_tokens_across_devices",
    "true",
    "--seed",
    "7",
]
#: FSDP is not here: accelerate runs it on GPUs only (swiftk refuses it on CPU, see the test below);
#: benchmarks/gpu/distributed.py runs it on a lent GPU machine
ENGINES = {
    "ddp": [],
    "zero2": ["--deepspeed", "zero2"],
    "zero3": ["--deepspeed", "zero3"],
}


def free_port() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return str(s.getsockname()[1])


def train(out: Path, *argv: str, nproc: int = 2, command: str = "sft") -> list[dict]:
    """``NPROC_PER_NODE=nproc swiftk <command>`` (one process without torchrun when nproc is 0); each rank's
    report."""
    launch = {"NPROC_PER_NODE": str(nproc), "MASTER_PORT": free_port()} if nproc else {}
    result = run_swiftk(
        command,
        *COMMON,
        *argv,
        "--output_dir",
        str(out),
        env={**launch, "OMP_NUM_THREADS": "1", "TRL_EXPERIMENTAL_SILENCE": "1"},
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return [json.loads((out / f"rank{r}.json").read_text()) for r in range(max(nproc, 1))]


def weights(checkpoint: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(checkpoint / "model.safetensors"))


@pytest.fixture(scope="module")
def one_rank(tmp_path_factory) -> dict:
    """The reference: one process, batch 4."""
    out = tmp_path_factory.mktemp("one_rank")
    train(out, *EQUIVALENT, "--per_device_train_batch_size", "4", nproc=0)
    return weights(out / "checkpoint-2")


@pytest.mark.slow
@pytest.mark.parametrize("engine", list(ENGINES))
def test_two_ranks_of_batch_2_end_with_the_weights_of_one_rank_of_batch_4(engine, one_rank, tmp_path):
    ranks = train(tmp_path, *EQUIVALENT, "--per_device_train_batch_size", "2", *ENGINES[engine])
    assert all(r["world_size"] == 2 for r in ranks)
    wrapped = ranks[0]["wrapped"]
    if engine.startswith("zero"):
        assert wrapped == "DeepSpeedEngine" and ranks[0]["zero_stage"] == int(engine[-1]), ranks[0]
    else:
        assert wrapped == "DistributedDataParallel", ranks[0]
    two_ranks = weights(tmp_path / "checkpoint-2")
    base = weights(Path(__file__).resolve().parents[1] / "plugins/demo/swiftk_demo/tiny-chat")
    for name, tensor in one_rank.items():
        if name not in two_ranks:
            assert name == "lm_head.weight"  # tied to the embeddings: ZeRO-2 saves it once
            continue
        assert two_ranks[name].shape == tensor.shape, name
        moved = (tensor - base[name]).abs().max().item()
        diff = (two_ranks[name] - tensor).abs().max().item()
        # the steps moved the weights (up to 0.1), the engines agree to float rounding
        assert diff <= 1e-5 + 1e-4 * moved, (name, diff, moved)
    assert max((one_rank[n] - base[n]).abs().max().item() for n in one_rank) > 1e-2


def run_ok(*argv: str) -> None:
    result = run_swiftk(*argv, env={"OMP_NUM_THREADS": "1"}, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]


@pytest.mark.slow
def test_deepspeed_presets_and_a_json_file_train_and_zero3_checkpoints_reload(tmp_path):
    """ZeRO-3 LoRA reloads in infer and merges in export; ZeRO-2 offload (LoRA), ZeRO-2 without NPROC_PER_NODE
    and a JSON file (ZeRO-3 offload, full) train on CPU with gloo."""
    lora3 = tmp_path / "zero3_lora"
    ranks = train(lora3, "--deepspeed", "zero3", "--per_device_train_batch_size", "2")
    assert ranks[0]["zero_stage"] == 3 and ranks[0]["offload"] in (None, "none")
    ckpt = lora3 / "checkpoint-2"
    rows = tmp_path / "infer.jsonl"
    run_ok("infer", "--adapters", str(ckpt), "--val_dataset", "swiftk/demo-sft#2", "--max_new_tokens", "4",
           "--temperature", "0", "--result_path", str(rows))  # fmt: skip
    assert len(rows.read_text().splitlines()) == 2
    run_ok("export", "--adapters", str(ckpt), "--merge_lora", "true")
    merged = weights(lora3 / "checkpoint-2-merged")
    base = weights(Path(__file__).resolve().parents[1] / "plugins/demo/swiftk_demo/tiny-chat")
    assert {n: t.shape for n, t in merged.items()} == {n: t.shape for n, t in base.items()}
    assert any((merged[n] - base[n]).abs().max() > 0 for n in base)  # the gathered adapter was merged in

    ranks = train(tmp_path / "zero2_offload", "--deepspeed", "zero2_offload", "--per_device_train_batch_size", "2")
    assert ranks[0]["zero_stage"] == 2 and ranks[0]["offload"] == "cpu", ranks[0]
    # without NPROC_PER_NODE, --deepspeed runs as one rank under torchrun (DeepSpeed needs a process group)
    ranks = train(tmp_path / "one_rank", "--deepspeed", "zero2", "--per_device_train_batch_size", "2", nproc=0)
    assert ranks[0]["world_size"] == 1 and ranks[0]["zero_stage"] == 2, ranks[0]

    from swiftk.pipelines.train_args import deepspeed_config

    config = tmp_path / "ds_zero3_offload.json"
    config.write_text(json.dumps(deepspeed_config("zero3_offload")))
    full3 = tmp_path / "zero3_offload_full"
    ranks = train(full3, "--deepspeed", str(config), "--train_type", "full", "--per_device_train_batch_size", "2")
    assert ranks[0]["zero_stage"] == 3 and ranks[0]["offload"] == "cpu", ranks[0]
    saved = weights(full3 / "checkpoint-2")
    assert {n: t.shape for n, t in saved.items()} == {n: t.shape for n, t in base.items()}  # gathered on save
    run_ok("infer", "--model", str(full3 / "checkpoint-2"), "--val_dataset", "swiftk/demo-sft#1",
           "--max_new_tokens", "4", "--result_path", str(tmp_path / "full.jsonl"))  # fmt: skip


@pytest.mark.slow
def test_dpo_and_grpo_under_zero3(tmp_path):
    """DPO's reference model (a second copy of --model under ZeRO-3) scores the first step's pairs as the policy
    does (rewards 0); GRPO's rollouts generate from the gathered ZeRO-3 weights."""
    common = ["--train_type", "full", "--deepspeed", "zero3", "--logging_steps", "1"]
    ranks = train(tmp_path / "dpo", "--rlhf_type", "dpo", "--dataset", "swiftk/demo-dpo",
                  "--per_device_train_batch_size", "2", *common, command="rlhf")  # fmt: skip
    assert ranks[0]["zero_stage"] == 3
    logs = [json.loads(line) for line in (tmp_path / "dpo" / "logging.jsonl").read_text().splitlines()]
    steps = [row for row in logs if "rewards/margins" in row]
    assert float(steps[0]["rewards/chosen"]) == 0 and len(steps) == 2, steps
    ranks = train(tmp_path / "grpo", "--rlhf_type", "grpo", "--dataset", "swiftk/demo-grpo-sums",
                  "--num_generations", "4", "--per_device_train_batch_size", "4", "--max_completion_length", "8",
                  "--reward_funcs", "format", "--beta", "0.04", *common, command="rlhf")  # fmt: skip
    assert ranks[0]["zero_stage"] == 3
    logs = [json.loads(line) for line in (tmp_path / "grpo" / "logging.jsonl").read_text().splitlines()]
    assert [float(r["completions/mean_length"]) > 0 for r in logs if "completions/mean_length" in r] == [True] * 2


@pytest.mark.slow
def test_two_nodes_of_two_ranks_form_one_job_and_save_on_each_node(tmp_path):
    """NNODES=2 started twice on this machine (NODE_RANK 0 and 1): one job of 4 ranks; with --save_on_each_node
    each node's first rank writes the checkpoint (here each node has its own --output_dir)."""
    import subprocess
    import sys

    from kernel_support import swiftk_env

    port = free_port()
    procs = []
    for node in (1, 0):  # the worker node first: it waits for the master
        env = {"NNODES": "2", "NODE_RANK": str(node), "NPROC_PER_NODE": "2", "MASTER_ADDR": "127.0.0.1",
               "MASTER_PORT": port, "OMP_NUM_THREADS": "1", "SWIFTK_NODE_TIMEOUT": "120"}  # fmt: skip
        argv = ["sft", *COMMON, "--per_device_train_batch_size", "1", "--max_steps", "1", "--save_on_each_node",
                "true", "--output_dir", str(tmp_path / f"node{node}")]  # fmt: skip
        procs.append(subprocess.Popen([sys.executable, "-m", "swiftk", *argv], env=swiftk_env(env),
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))  # fmt: skip
    for proc in procs:
        _, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err[-3000:]
    reports = sorted((tmp_path / "node0").glob("rank*.json")) + sorted((tmp_path / "node1").glob("rank*.json"))
    assert [p.name for p in reports] == ["rank0.json", "rank1.json", "rank2.json", "rank3.json"]
    assert all(json.loads(p.read_text())["world_size"] == 4 for p in reports)
    for node in (0, 1):
        assert (tmp_path / f"node{node}" / "checkpoint-1" / "adapter_model.safetensors").is_file(), node


def test_a_node_that_cannot_reach_the_master_stops_with_one_line(bare_swiftk, tmp_path):
    from kernel_support import one_line_error

    result = bare_swiftk(
        "sft", "--model", "tiny", "--output_dir", str(tmp_path / "o"),
        "--custom_register_path", str(TEST_PLUGINS / "pipeline_commands.py"),
        env={"NNODES": "2", "NODE_RANK": "1", "NPROC_PER_NODE": "2", "MASTER_ADDR": "127.0.0.1",
             "MASTER_PORT": free_port(), "SWIFTK_NODE_TIMEOUT": "2"},
        timeout=60,
    )  # fmt: skip
    assert result.returncode == 2
    line = one_line_error(result)
    assert "could not reach the master MASTER_ADDR=127.0.0.1" in line and "within 2 s" in line, line


@pytest.mark.parametrize(
    ("env", "says"),
    [
        ({"NNODES": "2", "NODE_RANK": "2"}, "NODE_RANK=2 must be below NNODES=2"),
        ({"NNODES": "2", "NODE_RANK": "1"}, "set MASTER_ADDR and MASTER_PORT"),
        ({"NNODES": "2", "SWIFTK_NODE_TIMEOUT": "soon"}, "SWIFTK_NODE_TIMEOUT must be a positive number"),
    ],
)
def test_bad_node_variables_are_one_line(bare_swiftk, tmp_path, env, says):
    from kernel_support import one_line_error

    result = bare_swiftk("sft", "--model", "tiny", "--output_dir", str(tmp_path / "o"), "--custom_register_path",
                         str(TEST_PLUGINS / "pipeline_commands.py"), env={"NPROC_PER_NODE": "2", **env})  # fmt: skip
    assert result.returncode == 2 and says in one_line_error(result)


def test_fsdp_on_cpu_and_a_job_too_big_for_memory_stop_before_loading(tmp_path):
    """Both refusals come before any weight is read (the big model's folder has only its config); under
    NPROC_PER_NODE the launcher refuses once, before torchrun starts the ranks."""
    from kernel_support import one_line_error

    fsdp = run_swiftk("sft", *COMMON[:4], "--fsdp", "full_shard", "--output_dir", str(tmp_path / "f"),
                      env={"NPROC_PER_NODE": "2", "MASTER_PORT": free_port()})  # fmt: skip
    line = one_line_error(fsdp)
    assert "starting under torchrun" not in fsdp.stderr
    assert "--fsdp full_shard: FSDP needs GPUs" in line and "--deepspeed zero3" in line
    big = tmp_path / "big"
    big.mkdir()
    config = json.loads(
        (Path(__file__).resolve().parents[1] / "plugins/demo/swiftk_demo/tiny-chat/config.json").read_text()
    )
    config.update(hidden_size=16384, intermediate_size=53248, num_hidden_layers=126, num_attention_heads=128,
                  num_key_value_heads=8, vocab_size=128256, layer_types=["full_attention"] * 126)  # fmt: skip
    (big / "config.json").write_text(json.dumps(config))
    result = run_swiftk("sft", "--model", str(big), "--model_type", "qwen2", "--dataset", "swiftk/demo-sft",
                        "--train_type", "full", "--output_dir", str(tmp_path / "b"))  # fmt: skip
    line = one_line_error(result)
    assert "training needs about" in line and "GiB per rank" in line, line
    assert "[swiftk] memory estimate per rank:" in result.stdout


@pytest.mark.slow
def test_the_memory_estimate_is_within_30_percent_of_the_measured_peak(tmp_path):
    """Full training of a 20M-parameter model with AdamW in one CPU process: parameters, gradients and Adam
    state are most of the peak resident memory that the run reports."""
    import shutil

    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    demo = Path(__file__).resolve().parents[1] / "plugins/demo/swiftk_demo/tiny-chat"
    model = tmp_path / "model"
    shutil.copytree(demo, model)
    config = json.loads((demo / "config.json").read_text())
    config.update(hidden_size=512, intermediate_size=1536, num_hidden_layers=6, num_attention_heads=8,
                  head_dim=64, tie_word_embeddings=False, layer_types=["full_attention"] * 6)  # fmt: skip
    (model / "config.json").write_text(json.dumps(config))
    torch.manual_seed(0)
    AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(model)).save_pretrained(model)
    out = tmp_path / "out"
    result = run_swiftk("sft", "--model", str(model), "--model_type", "qwen2", "--dataset", "swiftk/demo-sft",
                        "--train_type", "full", "--max_steps", "2", "--per_device_train_batch_size", "4",
                        "--max_length", "128", "--split_dataset_ratio", "0", "--save_strategy", "no",
                        "--add_version", "false", "--report_to", "none", "--output_dir", str(out),
                        env={"OMP_NUM_THREADS": "1"}, timeout=600)  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    (line,) = [line for line in result.stdout.splitlines() if "memory estimate per rank" in line]
    estimate_mib = float(line.split("rank: ")[1].split(" GiB")[0]) * 1024
    peak_mib = json.loads((out / "run_summary.json").read_text())["peak_memory_mib"]
    assert abs(estimate_mib - peak_mib) <= 0.3 * peak_mib, (estimate_mib, peak_mib)
