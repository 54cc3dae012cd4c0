"""``swiftk sample`` on the demo model: rejection sampling scored by GRPO's accuracy reward and trained on
by ``swiftk sft``, the two-phase cache flow, ``--data_range`` shards, ``--resume``, the client engine
against a real ``swiftk deploy``, a reward-model PRM and an ms-swift PRM file, the contrib sampler, and
one-line refusals."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = ROOT / "contrib" / "swiftk-example-sampler"
SUMS = "swiftk/demo-grpo-sums"
QUICK = ("--model", "swiftk/tiny-chat", "--max_new_tokens", "16", "--temperature", "0.7", "--seed", "7")


def _env(extra=None) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SWIFTK_")}
    env.update({"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "OMP_NUM_THREADS": "1"}, **(extra or {}))
    return env


def swiftk(*args, env=None, cwd=None, timeout=600):
    cmd = [sys.executable, "-m", "swiftk", *map(str, args)]
    return subprocess.run(cmd, capture_output=True, text=True, env=_env(env), cwd=cwd, timeout=timeout)


def ok(proc):
    assert proc.returncode == 0, proc.stderr[-4000:] + proc.stdout[-2000:]
    return proc


def one_line_error(proc) -> str:
    errors = [line for line in proc.stderr.splitlines() if line.startswith("swiftk: error:")]
    assert proc.returncode == 2 and len(errors) == 1 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    return errors[0]


def lines(path) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]


def sample(tmp_path, name, *args, env=None):
    ok(swiftk("sample", *QUICK, "--output_dir", tmp_path, "--output_file", name, *args, env=env))
    return lines(tmp_path / name)


@pytest.mark.slow
def test_accuracy_sampling_gives_data_that_sft_and_dpo_train_on(tmp_path):
    out = sample(
        tmp_path, "rft.jsonl", "--dataset", f"{SUMS}#24", "--num_return_sequences", "6", "--orm_model", "accuracy"
    )
    assert out, "the demo model answers some sums right"
    for line in out:
        assert line["orm_score"] == 1.0 and line["solution"] in line["messages"][-1]["content"]
        assert [m["role"] for m in line["messages"]] == ["user", "assistant"]
    by_prompt: dict = {}
    for line in out:
        by_prompt.setdefault(line["id"], []).append(line["messages"][-1]["content"])
    assert all(len(v) == len(set(v)) <= 5 for v in by_prompt.values())  # distinct, --n_best_to_keep 5
    paired = [line for line in out if "rejected_response" in line]
    assert paired and all(p["rejected_response"] != p["messages"][-1]["content"] for p in paired)
    record = json.loads((tmp_path / "rft.args.json").read_text())
    assert record["plugins"]["sampler"]["distribution"] == "swift-plugin-sample"
    assert record["plugins"]["orm_model"]["distribution"] == "swift-plugin-grpo"
    assert record["model_type"] == "tiny_chat"

    train = ("--model", "swiftk/tiny-chat", "--max_steps", "2", "--save_steps", "2", "--add_version", "false")
    ok(swiftk("sft", *train, "--dataset", tmp_path / "rft.jsonl", "--output_dir", tmp_path / "sft"))
    assert (tmp_path / "sft" / "checkpoint-2" / "adapter_config.json").is_file()
    dpo = tmp_path / "pairs.jsonl"
    dpo.write_text("".join(json.dumps(p) + "\n" for p in paired))
    ok(swiftk("rlhf", "--rlhf_type", "dpo", *train, "--dataset", dpo, "--output_dir", tmp_path / "dpo"))
    assert (tmp_path / "dpo" / "checkpoint-2" / "adapter_config.json").is_file()


@pytest.mark.slow
def test_two_phases_through_the_cache_give_what_one_phase_gives(tmp_path):
    data = ("--dataset", f"{SUMS}#10", "--num_return_sequences", "4")
    raw = sample(tmp_path, "raw.jsonl", *data)  # phase 1: no rewards, every completion
    assert len(raw) == 40 and all(len(line["id"]) == 32 for line in raw)
    two = sample(
        tmp_path, "two.jsonl", *data, "--sampler_engine", "no", "--cache_files", tmp_path / "raw.jsonl",
        "--orm_model", "accuracy",
    )  # fmt: skip
    one = sample(tmp_path, "one.jsonl", *data, "--orm_model", "accuracy")
    assert two == one and one
    # a cache written for other rows is refused, not silently resampled
    other = swiftk(
        "sample", *QUICK, "--dataset", f"{SUMS}#12", "--num_return_sequences", "4", "--sampler_engine", "no",
        "--cache_files", tmp_path / "raw.jsonl", "--orm_model", "accuracy", "--output_dir", tmp_path,
    )  # fmt: skip
    assert "fewer than --num_return_sequences 4 completions" in one_line_error(other)


@pytest.mark.slow
def test_data_range_shards_cover_the_dataset_once_side_by_side(tmp_path):
    common = [*QUICK, "--dataset", f"{SUMS}#11", "--num_return_sequences", "1", "--max_new_tokens", "4"]
    common += ["--output_dir", tmp_path]
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "swiftk",
                "sample",
                *map(str, common),
                "--data_range",
                str(i),
                "3",
                "--output_file",
                f"shard{i}.jsonl",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=_env(),
        )  # fmt: skip
        for i in range(3)
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err[-3000:]
    shards = [[line["id"] for line in lines(tmp_path / f"shard{i}.jsonl")] for i in range(3)]
    assert [len(s) for s in shards] == [3, 4, 4]
    whole = [line["id"] for line in sample(tmp_path, "whole.jsonl", *common[len(QUICK) :])]
    assert sorted(sum(shards, [])) == sorted(whole) and len(set(whole)) == 11


FLAKY = '''
import os
import swiftk
from swiftk_sample.vanilla import RejectionSampler


class Flaky(RejectionSampler):
    """Fails on the fourth batch while SAMPLE_FAIL is set: an interruption."""

    calls = 0

    def sample(self, rows):
        Flaky.calls += 1
        if Flaky.calls == 4 and os.environ.get("SAMPLE_FAIL"):
            raise KeyboardInterrupt
        return super().sample(rows)


@swiftk.hookimpl
def register_samplers(register):
    register("flaky", Flaky)
'''


@pytest.mark.slow
def test_an_interrupted_run_resumes_where_it_stopped(tmp_path):
    plugin = tmp_path / "flaky.py"
    plugin.write_text(FLAKY)
    args = ["--external_plugins", plugin, "--sampler_type", "flaky", "--dataset", f"{SUMS}#6"]
    args += ["--num_return_sequences", "2", "--orm_model", "accuracy", "--temperature", "0"]
    stopped = swiftk(
        "sample", *QUICK, *args, "--output_dir", tmp_path, "--output_file", "r.jsonl", env={"SAMPLE_FAIL": "1"}
    )
    assert stopped.returncode != 0
    assert not (tmp_path / "r.jsonl").exists()  # nothing half-done under the final name
    state = json.loads((tmp_path / "r.jsonl.state.json").read_text())
    assert state["batches"] == 3
    # a different job is not continued by mistake
    other = swiftk("sample", *QUICK, *args, "--num_return_sequences", "3", "--output_dir", tmp_path,
                   "--output_file", "r.jsonl", "--resume", "true")  # fmt: skip
    assert "was sampled for another job" in one_line_error(other)
    resumed = ok(
        swiftk("sample", *QUICK, *args, "--output_dir", tmp_path, "--output_file", "r.jsonl", "--resume", "true")
    )
    assert "3 batches already in" in resumed.stdout
    assert sorted(os.listdir(tmp_path)) == ["flaky.py", "r.args.json", "r.jsonl"]
    whole = sample(tmp_path, "whole.jsonl", *args)
    assert lines(tmp_path / "r.jsonl") == whole


@pytest.mark.slow
def test_client_engine_against_swiftk_deploy_with_a_key(tmp_path):
    from swiftk_infer.testing import DeployProcess

    with DeployProcess(["--model", "swiftk/tiny-chat", "--api_key", "sk-sample"]) as server:
        base = ["--sampler_engine", "client", "--base_url", server.base_url, "--model", "tiny-chat"]
        data = ["--dataset", f"{SUMS}#6", "--num_return_sequences", "4", "--max_new_tokens", "16"]
        out = tmp_path / "out"
        refused = swiftk("sample", *base, "--api_key", "wrong", *data, "--output_dir", out)
        assert "401" in one_line_error(refused) or "key" in one_line_error(refused).lower()
        ok(swiftk("sample", *base, "--api_key", "sk-sample", *data, "--output_dir", out, "--output_file", "c.jsonl"))
    got = lines(out / "c.jsonl")
    assert len(got) == 24 and all(line["messages"][-1]["role"] == "assistant" for line in got)
    assert "sk-sample" not in (out / "c.args.json").read_text()


MS_SWIFT_PRM = '''
from swift.plugin import prms


class StepLengthPRM:
    """ms-swift's sampler convention: InferRequests and ground truths; a score per step (the lowest counts)."""

    def __call__(self, infer_requests, ground_truths, **kwargs):
        out = []
        for request in infer_requests:
            answer = request.messages[-1]["content"]
            out.append([1.0, 2.0 if len(answer) < 12 else -1.0])
        return out


prms["short_steps"] = StepLengthPRM
'''


@pytest.mark.slow
def test_process_rewards_from_an_ms_swift_file_and_from_a_reward_model(tmp_path):
    prm = tmp_path / "prm.py"
    prm.write_text(MS_SWIFT_PRM)
    data = ["--dataset", f"{SUMS}#8", "--num_return_sequences", "6"]
    out = sample(tmp_path, "p.jsonl", *data, "--external_plugins", prm, "--prm_model", "short_steps",
                 "--prm_threshold", "0.5")  # fmt: skip
    assert out and all(len(line["messages"][-1]["content"]) < 12 and line["prm_score"] == 1.0 for line in out)

    rm = tmp_path / "rm"
    ok(swiftk("rlhf", "--rlhf_type", "rm", "--model", "swiftk/tiny-chat", "--dataset", "swiftk/demo-dpo",
              "--train_type", "full", "--max_steps", "1", "--save_steps", "1", "--output_dir", rm,
              "--add_version", "false"))  # fmt: skip
    scored = sample(tmp_path, "rm.jsonl", *data, "--prm_model", rm / "checkpoint-1", "--prm_threshold", "-100",
                    "--n_best_to_keep", "2")  # fmt: skip
    assert scored and all(isinstance(line["prm_score"], float) for line in scored)
    for group in {line["id"] for line in scored}:
        kept = [line for line in scored if line["id"] == group]
        assert len(kept) <= 2
        if "rejected_response" in kept[0]:  # the worst completion scored lower than each kept one
            assert all(line["prm_score"] >= kept[-1]["prm_score"] for line in kept)


@pytest.mark.slow
def test_a_contrib_sampler_is_selectable(tmp_path):
    plugin = EXAMPLE / "swiftk_example_sampler" / "plugin.py"
    out = sample(tmp_path, "v.jsonl", "--external_plugins", plugin, "--sampler_type", "majority_vote",
                 "--dataset", f"{SUMS}#8", "--num_return_sequences", "6", env={"PYTHONPATH": str(EXAMPLE)})  # fmt: skip
    assert out
    for line in out:
        count, total = map(int, line["votes"].split("/"))
        assert total == 6 and 2 * count >= total and line["answer"] in line["messages"][-1]["content"]
    record = json.loads((tmp_path / "v.args.json").read_text())
    assert record["plugins"]["sampler"]["name"] == "majority_vote"


@pytest.mark.parametrize(
    "args, says",
    [
        (["--data_range", "3", "3"], "--data_range must be two integers 'index count'"),
        (["--output_file", "a/b.jsonl"], "--output_file a/b.jsonl: give a file name only"),
        (["--output_file", "b.json"], "the output is jsonl"),
        (["--engine_kwargs", '{"gpu_memory_utilization": 0.5}'], "not an argument of --sampler_engine pt"),
        (["--orm_model", "no_such_reward"], "--orm_model no_such_reward: no reward of that name"),
        (["--sampler_type", "mcts"], "--sampler_type mcts: give --orm_model"),
        (["--sampler_engine", "no"], "--sampler_engine no: nothing to score"),
        (["--sampler_type", "mcts", "--orm_model", "accuracy", "--process_reward_rate", "0.5"], "no --prm_model"),
        (["--cache_files", "/nonexistent/c.jsonl", "--sampler_engine", "no"], "--cache_files /nonexistent/c.jsonl"),
    ],
)
def test_bad_arguments_are_one_line(tmp_path, args, says):
    proc = swiftk("sample", *QUICK, "--dataset", f"{SUMS}#2", "--output_dir", tmp_path, *args)
    assert says in one_line_error(proc)
    assert not any(name.endswith(".jsonl") for name in os.listdir(tmp_path))


@pytest.mark.slow
def test_under_torchrun_the_ranks_share_a_data_range_shard_and_rank_0_joins_them(tmp_path):
    """NPROC_PER_NODE=2: each rank samples part of shard 1 of 2; the joined file holds the rows one process
    samples from that shard, in its order, and no rank's file is left."""
    common = [*QUICK, "--dataset", f"{SUMS}#9", "--num_return_sequences", "1", "--max_new_tokens", "4"]
    common += ["--data_range", "1", "2", "--output_dir", tmp_path]
    launch = {"NPROC_PER_NODE": "2", "MASTER_PORT": "29761"}
    ok(swiftk("sample", *common, env=launch))  # the default name: rank 0's timestamp on every rank
    (ranks,) = tmp_path.glob("*.jsonl")
    one = sample(tmp_path, "one.jsonl", *common[len(QUICK) :])
    assert [line["id"] for line in lines(ranks)] == [line["id"] for line in one] and len(one) == 5
    assert not list(tmp_path.glob("*.rank*")), list(tmp_path.iterdir())


def test_distill_from_a_server_that_reasons_apart_with_openai_api_key(tmp_path):
    """ms-swift's examples/sampler/distill: --sampler_type distill --sampler_engine client, the key from
    OPENAI_API_KEY; reasoning_content wrapped as <think>...</think> then <answer>...</answer>."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    seen = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def _send(self, body):
            data = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            self._send({"data": [{"id": "deepseek-r1"}]})

        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            seen.append((self.headers.get("Authorization"), body))
            message = {"role": "assistant", "content": "11", "reasoning_content": "6 and 5 make 11."}
            self._send({"choices": [{"index": i, "message": message, "finish_reason": "stop"} for i in range(body.get("n", 1))],
                        "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}})  # fmt: skip

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        base = f"http://127.0.0.1:{server.server_port}/v1"
        args = ["sample", "--sampler_type", "distill", "--sampler_engine", "client", "--model", "deepseek-r1",
                "--dataset", f"{SUMS}#3", "--num_return_sequences", "1", "--temperature", "0.6", "--top_p", "0.95",
                "--engine_kwargs", json.dumps({"base_url": base}), "--output_dir", tmp_path, "--output_file", "d.jsonl"]  # fmt: skip
        ok(swiftk(*args, env={"OPENAI_API_KEY": "sk-distill"}))
    finally:
        server.shutdown()
    out = lines(tmp_path / "d.jsonl")
    assert len(out) == 3
    assert {line["messages"][-1]["content"] for line in out} == {
        "<think>6 and 5 make 11.</think>\n\n<answer>11</answer>"
    }
    assert all(auth == "Bearer sk-distill" for auth, _ in seen)
    assert seen[0][1]["temperature"] == 0.6 and seen[0][1]["top_p"] == 0.95
    assert "sk-distill" not in (tmp_path / "d.args.json").read_text()
