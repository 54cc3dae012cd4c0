"""One test per hook of ``swiftk.hookspecs``, each driving the kernel path that consumes the hook (datasette's rule).

A test registers a small plugin object and then runs what a user runs (``swiftk sft``, ``swiftk infer``, a
command, the model loader, the data pipeline), asserting that the plugin's contribution had its effect; the
registry alone is never the thing tested.  ``tests/test_docs.py`` requires a ``test_hook_<name>`` here for
every hook.

Training is the expensive part, so the training-time hooks share ONE short ``swiftk sft`` run on the demo model
(``training_run`` below, in this process through the kernel's CLI entry): one plugin object implements the
arguments, dataset, model, template, loss-scale, tuner, quantizer, loss, metric, optimizer and callback
registrations and the four pipeline hooks, and each ``test_hook_<name>`` asserts its own part of what that run
recorded.  The other hooks use cheap paths (argument parsing, the tokenizer, a stub engine or trainer).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

import swiftk
from swiftk.api import (
    DatasetMeta,
    EngineSpec,
    Model,
    ModelGroup,
    ModelMeta,
    QuantizerSpec,
    TemplateMeta,
    TrainerSpec,
    TunerSpec,
    UsageError,
    arg,
)

for _name in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"):
    os.environ.setdefault(_name, "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

pytestmark = pytest.mark.usefixtures("one_torch_thread")

DEMO_ID = "swiftk/tiny-chat"  # swift-plugin-demo's model, shipped in the package


def _demo_dir() -> str:
    demo = pytest.importorskip("swiftk_demo", reason="swift-plugin-demo (the tiny demo model) is not installed")
    return demo.MODEL_DIR


def _rows(n: int, word: str = "question") -> list[dict]:
    return [
        {"messages": [{"role": "user", "content": f"{word} {i}"}, {"role": "assistant", "content": f"answer {i}"}]}
        for i in range(n)
    ]


def _write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _cli(*argv: str) -> int:
    """``swiftk argv`` in this process (the console script's ``main``): its exit code."""
    from swiftk.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(list(argv))
    return exit_info.value.code


def _plugins_json(capsys: Any, *argv: str) -> dict[str, dict]:
    """``swiftk plugins --json``, by plugin name."""
    capsys.readouterr()
    assert _cli("plugins", "--json", *argv) == 0
    return {p["name"]: p for p in json.loads(capsys.readouterr().out)}


# --- the shared training run ---------------------------------------------------------------------


@dataclass
class ProbeArguments:
    hd_probe_tag: str = arg("unset", "A flag added by the test plugin (register_arguments).")


HD_USER, HD_BOT = "[HD-USER] ", " [HD-BOT] "
LOSS_SCALE_WEIGHT = 0.5
TRAINED = "model.norm.weight"  # the one parameter the test tuner leaves trainable (the demo ties lm_head)


class HalfLossScale:
    """``--loss_scale hd_half``: answers (and their end marker) weigh 0.5, the prompt nothing."""

    name = "hd_half"
    is_binary = False

    def apply(self, segments: list) -> tuple[list, list[float]]:
        return segments, [LOSS_SCALE_WEIGHT if s.kind in ("response", "end") else 0.0 for s in segments]


class TrainingProbe:
    """Every training-time contribution at once; ``seen`` records what the run did with each."""

    def __init__(self, data_file: Path, demo_dir: str):
        self.data_file, self.demo_dir = data_file, demo_dir
        self.seen: dict[str, Any] = {"events": [], "loss_calls": [], "metric_calls": 0, "gated_callback": 0}

    # registrations ---------------------------------------------------------------------------
    @swiftk.hookimpl
    def register_arguments(self, register):
        register("hd_probe", ProbeArguments, commands=["sft"])

    @swiftk.hookimpl
    def register_datasets(self, register):
        register("hooks-driven/probe", DatasetMeta(dataset_path=str(self.data_file), dataset_name="hooks-driven/probe"))

    @swiftk.hookimpl
    def register_models(self, register):
        register(
            "hd_model",
            ModelMeta(
                "hd_model",
                [ModelGroup([Model(hf_model_id="hooks-driven/tiny", model_path=self.demo_dir)])],
                template="hd_chat",
            ),
        )

    @swiftk.hookimpl
    def register_templates(self, register):
        register(
            "hd_chat",
            TemplateMeta(
                "hd_chat",
                prefix=[],
                prompt=[HD_USER + "{{QUERY}}" + HD_BOT],
                chat_sep=["\n"],
                suffix=[["eos_token_id"]],
            ),
        )

    @swiftk.hookimpl
    def register_loss_scales(self, register):
        register("hd_half", HalfLossScale)

    @swiftk.hookimpl
    def register_tuners(self, register):
        register("hd_tuner", TunerSpec(prepare=self.prepare))

    @swiftk.hookimpl
    def register_quantizers(self, register):
        register("hd_quant", QuantizerSpec(load_config=self.quant_config, after_load=self.quant_after_load))

    @swiftk.hookimpl
    def register_losses(self, register):
        register("hd_loss", self.loss)

    @swiftk.hookimpl
    def register_metrics(self, register):
        register("hd_metric", self.metric_factory)

    @swiftk.hookimpl
    def register_optimizers(self, register):
        register("hd_sgd", self.optimizer_factory)

    @swiftk.hookimpl
    def register_callbacks(self, register):
        probe = self

        from transformers import TrainerCallback

        class Events(TrainerCallback):
            def on_train_begin(self, args, state, control, **kw):
                probe.seen["events"].append("train_begin")

            def on_step_end(self, args, state, control, **kw):
                probe.seen["events"].append(f"step_end:{state.global_step}")

            def on_evaluate(self, args, state, control, metrics=None, **kw):
                probe.seen["events"].append("evaluate")

            def on_train_end(self, args, state, control, **kw):
                probe.seen["events"].append("train_end")

        class Gated(TrainerCallback):
            def on_train_begin(self, args, state, control, **kw):
                probe.seen["gated_callback"] += 1

        def events(args):
            probe.seen["callback_args_tag"] = args.hd_probe_tag
            return Events()

        register("hd_events", events, takes_args=True)
        register("hd_never", Gated, when=lambda args: args.hd_probe_tag == "another run")

    # what the registered objects do -------------------------------------------------------------
    def prepare(self, model, args):
        """The tuner: only the final norm trains."""
        for name, param in model.named_parameters():
            param.requires_grad_(name == TRAINED)
        model.hd_tuned_by = args.train_type
        self.seen["tuned"] = model
        self.seen["before"] = model.get_parameter(TRAINED).detach().clone()
        return model

    def quant_config(self, args, dtype):
        self.seen["quant_config"] = (args.quant_bits, dtype)
        return None

    def quant_after_load(self, model, args, dtype):
        self.seen["quant_after_load"] = model

    def loss(self, outputs, labels, loss_scale=None, num_items_in_batch=None):
        import torch

        logits = outputs["logits"] if isinstance(outputs, dict) else outputs.logits
        shift_logits, shift_labels = logits[:, :-1], labels[:, 1:]
        per_token = torch.nn.functional.cross_entropy(
            shift_logits.reshape(-1, shift_logits.shape[-1]).float(),
            shift_labels.reshape(-1),
            ignore_index=-100,
            reduction="none",
        )
        weights = (shift_labels != -100).float().reshape(-1)
        if loss_scale is not None:
            weights = weights * loss_scale[:, 1:].reshape(-1)
        loss = (per_token * weights).sum() / (shift_labels != -100).sum().clamp(min=1)
        scales = None if loss_scale is None else sorted(set(loss_scale.flatten().tolist()))
        self.seen["loss_calls"].append(("train" if torch.is_grad_enabled() else "eval", scales, loss.item()))
        return loss

    def metric_factory(self, args, tokenizer):
        self.seen["metric_tokenizer"] = tokenizer

        def compute(eval_prediction):
            self.seen["metric_calls"] += 1
            return {"hd_probe": 0.25}

        return compute

    def optimizer_factory(self, args, model, dataset):
        import torch

        optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=args.learning_rate)
        self.seen["optimizer"] = optimizer
        return optimizer, None

    # pipeline hooks ----------------------------------------------------------------------------------
    @swiftk.hookimpl
    def post_args_parse(self, command, args):
        self.seen["post_args_parse"] = (command, args.hd_probe_tag)

    @swiftk.hookimpl
    def post_model_load(self, args, model, processor):
        model.config.hd_post_model_load = True
        self.seen["post_model_load"] = (model, processor, model.model_info.model_type)

    @swiftk.hookimpl
    def post_trainer_create(self, args, trainer):
        probe = self
        from transformers import TrainerCallback

        class AddedByHook(TrainerCallback):
            def on_train_begin(self, args, state, control, **kw):
                probe.seen["events"].append("hook_callback")

        trainer.add_callback(AddedByHook())
        self.seen["trainer"] = trainer
        self.seen["first_sample"] = dict(trainer.train_dataset[0])

    @swiftk.hookimpl
    def train_end(self, args, trainer, output_dir):
        self.seen["train_end"] = (trainer, output_dir, sorted(os.listdir(output_dir)), trainer.state.global_step)


@pytest.fixture(scope="module")
def training_run(tmp_path_factory) -> SimpleNamespace:
    """One ``swiftk sft`` of one step, plus evaluation, through every training-time contribution."""
    from swiftk.cli.builtin import invoke
    from swiftk.testing import HostScope

    folder = tmp_path_factory.mktemp("hooks_driven_run")
    data = _write_jsonl(folder / "probe.jsonl", _rows(4, "probe"))
    probe = TrainingProbe(data, _demo_dir())
    out = folder / "out"
    with HostScope(autoload=True) as host:
        host.register_plugin(probe, "hooks_driven_probe")
        code, args = invoke(
            "sft",
            [
                "--model",
                "hooks-driven/tiny",
                "--dataset",
                "hooks-driven/probe",
                "--val_dataset",
                "hooks-driven/probe#2",
                "--split_dataset_ratio",
                "0",
                "--train_type",
                "hd_tuner",
                "--loss_type",
                "hd_loss",
                "--metric",
                "hd_metric",
                "--optimizer",
                "hd_sgd",
                "--loss_scale",
                "hd_half",
                "--quant_method",
                "hd_quant",
                "--quant_bits",
                "4",
                "--hd_probe_tag",
                "shared-run",
                "--max_steps",
                "1",
                "--per_device_train_batch_size",
                "2",
                "--per_device_eval_batch_size",
                "2",
                "--learning_rate",
                "0.1",
                "--eval_strategy",
                "steps",
                "--eval_steps",
                "1",
                "--save_strategy",
                "no",
                "--logging_steps",
                "1",
                "--max_length",
                "64",
                "--gradient_checkpointing",
                "false",
                "--dataloader_num_workers",
                "0",
                "--add_version",
                "false",
                "--report_to",
                "none",
                "--disable_tqdm",
                "true",
                "--output_dir",
                str(out),
            ],
            launch=False,
        )
    assert code == 0
    logs = [json.loads(line) for line in (out / "logging.jsonl").read_text().splitlines()]
    return SimpleNamespace(seen=probe.seen, args=args, out=out, logs=logs, data=data)


def test_hook_register_arguments(training_run):
    """A group's new flag is parsed, reaches ``args`` (and the plugins given it) and is saved in args.json."""
    assert training_run.args.hd_probe_tag == "shared-run"
    assert training_run.seen["post_args_parse"] == ("sft", "shared-run")
    assert training_run.seen["callback_args_tag"] == "shared-run"
    assert json.loads((training_run.out / "args.json").read_text())["hd_probe_tag"] == "shared-run"


def test_hook_register_datasets(training_run):
    """``--dataset hooks-driven/probe`` trains on the registered file: its 4 rows, each encoding one of them."""
    trainer = training_run.seen["trainer"]
    tokenizer = trainer.processing_class
    assert len(trainer.train_dataset) == 4 and len(trainer.eval_dataset) == 2
    texts = {tokenizer.decode(row["input_ids"]) for row in trainer.train_dataset}
    assert all(any(f"probe {i}" in t for t in texts) for i in range(4)), texts


def test_hook_register_models(training_run):
    """``--model hooks-driven/tiny`` resolves to the registered model type, its folder and default template."""
    model, _, model_type = training_run.seen["post_model_load"]
    assert model_type == "hd_model"
    assert model.model_info.model_dir == _demo_dir()
    assert training_run.seen["trainer"].template.template_type == "hd_chat"


def test_hook_register_templates(training_run):
    """The registered template (the model type's default) encodes the training rows."""
    tokenizer = training_run.seen["trainer"].processing_class
    text = tokenizer.decode(training_run.seen["first_sample"]["input_ids"])
    assert text.startswith(HD_USER + "probe ") and HD_BOT + "answer " in text, text


def test_hook_register_loss_scales(training_run):
    """``--loss_scale hd_half``: the encoded sample carries its weights, and they reach the loss function."""
    sample = training_run.seen["first_sample"]
    labelled = [w for w, label in zip(sample["loss_scale"], sample["labels"]) if label != -100]
    assert labelled and set(labelled) == {LOSS_SCALE_WEIGHT}
    assert set(w for w, label in zip(sample["loss_scale"], sample["labels"]) if label == -100) == {0.0}
    train_calls = [scales for mode, scales, _ in training_run.seen["loss_calls"] if mode == "train"]
    assert train_calls == [[0.0, LOSS_SCALE_WEIGHT]], training_run.seen["loss_calls"]


def test_hook_register_tuners(training_run):
    """``--train_type hd_tuner`` prepares the model that trains: only the parameter it leaves trainable moves."""
    model = training_run.seen["tuned"]
    assert model.hd_tuned_by == "hd_tuner"
    assert training_run.seen["trainer"].model is model
    assert {n for n, p in model.named_parameters() if p.requires_grad} == {TRAINED}
    assert not model.get_parameter(TRAINED).detach().equal(training_run.seen["before"])


def test_hook_register_quantizers(training_run):
    """``--quant_method hd_quant`` at model load: load_config gets the bits and dtype, after_load the model."""
    assert training_run.seen["quant_config"] == (4, "float32")
    assert training_run.seen["quant_after_load"] is training_run.seen["post_model_load"][0]


def test_hook_register_losses(training_run):
    """``--loss_type hd_loss`` computes the training loss (and the evaluation loss) of the run."""
    (train, train_loss), (evaluation, eval_loss) = [(m, loss) for m, _, loss in training_run.seen["loss_calls"]]
    assert (train, evaluation) == ("train", "eval")  # one training step, one evaluation batch
    logged = {k: v for r in training_run.logs for k, v in r.items() if k in ("loss", "eval_loss")}
    assert logged == {"loss": pytest.approx(train_loss, rel=1e-4), "eval_loss": pytest.approx(eval_loss, rel=1e-4)}


def test_hook_register_metrics(training_run):
    """``--metric hd_metric``: the evaluation calls it and its value lands in logging.jsonl as eval_hd_probe."""
    assert training_run.seen["metric_calls"] >= 1
    assert training_run.seen["metric_tokenizer"] is training_run.seen["trainer"].processing_class
    assert any(r.get("eval_hd_probe") == 0.25 for r in training_run.logs), training_run.logs


def test_hook_register_optimizers(training_run):
    """``--optimizer hd_sgd``: the trainer steps the optimizer the factory returned."""
    optimizer = training_run.seen["optimizer"]
    used = training_run.seen["trainer"].optimizer
    assert getattr(used, "optimizer", used) is optimizer  # (accelerate wraps it)
    (group,) = optimizer.param_groups
    assert group["params"] == [training_run.seen["tuned"].get_parameter(TRAINED)]
    assert group["initial_lr"] == pytest.approx(0.1)  # the Trainer's scheduler drove this optimizer


def test_hook_register_callbacks(training_run):
    """A registered callback sees the run's events; one whose ``when(args)`` is false is not added."""
    events = training_run.seen["events"]
    assert events[0] in ("train_begin", "hook_callback") and "step_end:1" in events and "evaluate" in events
    assert events[-1] == "train_end"
    assert training_run.seen["gated_callback"] == 0


def test_hook_post_args_parse(training_run, swiftk_host, register_plugin, tmp_path, capsys):
    """Called with the parsed arguments before the run; a UsageError refuses the run (one line, exit 2)."""
    assert training_run.seen["post_args_parse"] == ("sft", "shared-run")

    class Refuse:
        @swiftk.hookimpl
        def post_args_parse(self, command, args):
            if command == "sft" and args.max_length and args.max_length > 100:
                raise UsageError("--max_length above 100 is not allowed on this cluster")

    register_plugin(Refuse(), "refuse")
    out = tmp_path / "refused"
    capsys.readouterr()
    code = _cli(
        "sft",
        "--model",
        DEMO_ID,
        "--dataset",
        "swiftk/demo-sft",
        "--max_length",
        "512",
        "--output_dir",
        str(out),
        "--add_version",
        "false",
    )
    assert code == 2
    assert capsys.readouterr().err.strip() == "swiftk: error: --max_length above 100 is not allowed on this cluster"
    assert not out.exists()  # refused before the run folder was made


def test_hook_post_model_load(training_run):
    """Called with the loaded model and tokenizer before the tuner: its change reaches the trained model."""
    model, processor, _ = training_run.seen["post_model_load"]
    trainer = training_run.seen["trainer"]
    assert trainer.model is model and trainer.model.config.hd_post_model_load is True
    assert processor is trainer.processing_class


def test_hook_post_trainer_create(training_run):
    """Called with the ready trainer before train(): a callback it adds fires when training begins."""
    trainer = training_run.seen["trainer"]
    assert trainer.args.output_dir == str(training_run.out)
    assert "hook_callback" in training_run.seen["events"]
    assert training_run.seen["events"].index("hook_callback") < training_run.seen["events"].index("step_end:1")


def test_hook_train_end(training_run):
    """Called after training with the trainer and the folder where the final model was saved."""
    trainer, output_dir, files, step = training_run.seen["train_end"]
    assert trainer is training_run.seen["trainer"] and step == 1
    assert Path(output_dir).resolve().is_relative_to(training_run.out.resolve())
    assert {"model.safetensors", "config.json", "args.json"} <= set(files), (output_dir, files)
    assert (training_run.out / "run_summary.json").is_file()


# --- registration hooks with cheap consumers ---------------------------------------------------------


def _tokenizer():
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(_demo_dir())


def test_hook_register_agent_templates(register_plugin):
    """``--tools_prompt hd_tools``: the template renders the tools, the call and its result through it."""
    from swiftk.api import get_template, resolve_model
    from swiftk.cli.builtin import resolve_arguments

    class HdTools:
        name = "hd_tools"
        inline_results = False

        def format_system(self, tools, system):
            return f"{system or ''}<HD-TOOLS {','.join(t['function']['name'] for t in tools)}>"

        def format_tool_calls(self, calls, content=""):
            return content + "".join(f"<HD-CALL {c['name']}>" for c in calls)

        def format_tool_results(self, results):
            return "".join(f"<HD-RESULT {r}>" for r in results)

        def format_inline_results(self, results):
            return self.format_tool_results(results)

        def close_for_results(self, text):
            return text

        def parse_tool_calls(self, text):
            return []

    class Plugin:
        @swiftk.hookimpl
        def register_agent_templates(self, register):
            register("hd_tools", HdTools)

    register_plugin(Plugin(), "hd_agent")
    args = resolve_arguments("sft", ["--model", DEMO_ID, "--tools_prompt", "hd_tools"])
    template = get_template(args, _tokenizer(), resolve_model(args))
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {}}}]
    row = {
        "tools": json.dumps(tools),
        "messages": [
            {"role": "user", "content": "weather?"},
            {"role": "tool_call", "content": json.dumps({"name": "get_weather", "arguments": {"city": "Paris"}})},
            {"role": "tool", "content": "sunny"},
            {"role": "assistant", "content": "It is sunny."},
        ],
    }
    text = template.tokenizer.decode(template.encode(row)["input_ids"])
    assert "<HD-TOOLS get_weather>" in text and "<HD-CALL get_weather>" in text and "<HD-RESULT sunny>" in text, text


def test_hook_register_trainers(register_plugin, tmp_path):
    """``swiftk rlhf --rlhf_type hd_po`` runs the registered TrainerSpec: prepare_args, encode, the trainer."""
    seen: dict[str, Any] = {}

    def prepare_args(args):
        seen["prepare_args"] = args.rlhf_type

    def encode(template, args, dataset):
        def fn(row):
            return {**template.encode(row), "hd_encoded": 1}

        return fn

    class HdTrainer:
        def __init__(
            self,
            model,
            args,
            train_dataset,
            eval_dataset,
            data_collator,
            processing_class,
            template,
            swift_args,
            callbacks,
            **kwargs,
        ):
            seen["init"] = dict(
                rows=len(train_dataset),
                columns=set(train_dataset.column_names),
                template=template.template_type,
                kwargs=set(kwargs),
            )
            self.model, self.state = model, SimpleNamespace(global_step=0)

        def train(self, resume_from_checkpoint=None):
            self.state.global_step = 1
            seen["trained"] = True

    class Plugin:
        @swiftk.hookimpl
        def register_trainers(self, register):
            register("hd_po", TrainerSpec(trainer_cls=HdTrainer, prepare_args=prepare_args, encode=encode))

    from swiftk.cli.builtin import invoke

    register_plugin(Plugin(), "hd_trainer")
    data = _write_jsonl(tmp_path / "rows.jsonl", _rows(3))
    code, _ = invoke(
        "rlhf",
        [
            "--rlhf_type",
            "hd_po",
            "--model",
            DEMO_ID,
            "--dataset",
            str(data),
            "--train_type",
            "full",
            "--split_dataset_ratio",
            "0",
            "--max_length",
            "64",
            "--report_to",
            "none",
            "--add_version",
            "false",
            "--output_dir",
            str(tmp_path / "po"),
        ],
        launch=False,
    )
    assert code == 0
    assert seen["prepare_args"] == "hd_po" and seen["trained"] is True
    assert seen["init"]["rows"] == 3 and "hd_encoded" in seen["init"]["columns"]
    assert seen["init"]["template"] == "tiny_chat" and "ref_model" not in seen["init"]["kwargs"]


def test_hook_register_rewards(register_plugin):
    """``--reward_funcs hd_len``: GRPO's reward builder builds the registered class with the run's arguments
    and calls it on trl's completions with the dataset's columns."""
    reward_funcs = pytest.importorskip("swiftk_grpo.reward_funcs", reason="swift-plugin-grpo is not installed")
    from swiftk.cli.builtin import resolve_arguments

    class HdLen:
        def __init__(self, args):
            self.scale = args.get("max_completion_length")

        def __call__(self, completions, solution):
            return [len(c) / self.scale + (1.0 if c == s else 0.0) for c, s in zip(completions, solution)]

    class Plugin:
        @swiftk.hookimpl
        def register_rewards(self, register):
            register("hd_len", HdLen)

    register_plugin(Plugin(), "hd_rewards")
    args = resolve_arguments(
        "rlhf", ["--rlhf_type", "grpo", "--reward_funcs", "hd_len", "--max_completion_length", "10"]
    )
    (reward,) = reward_funcs.build_rewards(args, tokenizer=None)
    assert reward.plugin == "hd_rewards"
    values = reward(
        prompts=[[{"role": "user", "content": "q"}]] * 2,
        completions=["7", "abcde"],
        completion_ids=[[1], [1, 2]],
        solution=["7", "8"],
    )
    assert values == pytest.approx([1.1, 0.5])


def test_hook_register_infer_engines(register_plugin, tmp_path, capsys):
    """``swiftk infer --infer_backend hd_echo`` answers a dataset through the registered engine."""
    from swiftk.api import ChatCompletionResponse, Choice, InferEngine, Usage

    seen: dict[str, Any] = {}

    class EchoEngine(InferEngine):
        @classmethod
        def from_args(cls, args):
            seen["model"] = args.model
            return cls()

        def infer(self, requests, config=None, *, use_tqdm=False):
            seen["requests"] = len(requests)
            return [
                ChatCompletionResponse(
                    model="echo",
                    usage=Usage(),
                    choices=[Choice(0, {"role": "assistant", "content": "echo: " + r.messages[-1]["content"]}, "stop")],
                )
                for r in requests
            ]

        def infer_stream(self, request, config=None):
            raise NotImplementedError

    class Plugin:
        @swiftk.hookimpl
        def register_infer_engines(self, register):
            register("hd_echo", EngineSpec(engine_cls=EchoEngine))

    register_plugin(Plugin(), "hd_engine")
    data = _write_jsonl(tmp_path / "q.jsonl", _rows(2))
    result = tmp_path / "answers.jsonl"
    code = _cli(
        "infer",
        "--model",
        DEMO_ID,
        "--infer_backend",
        "hd_echo",
        "--val_dataset",
        str(data),
        "--result_path",
        str(result),
    )
    assert code == 0, capsys.readouterr().err
    assert seen == {"model": DEMO_ID, "requests": 2}
    answers = [json.loads(line)["response"] for line in result.read_text().splitlines()]
    assert answers == ["echo: question 0", "echo: question 1"]


def test_hook_register_commands(register_plugin, tmp_path, capsys):
    """``swiftk hd-hello`` runs a new click command, ``swiftk hd-greet`` one whose arguments the kernel parses,
    and a built-in command (``sample``) runs the registered implementation with the parsed arguments."""
    import click

    seen: dict[str, Any] = {}

    @click.command()
    @click.option("--name", default="world")
    def hello(name):
        click.echo(f"hello {name}")

    @dataclass
    class GreetArguments:
        greeting: str = arg("hi", "What to say.")

    def greet(args):
        print(f"{args.greeting}!")
        return 0

    def sample(args):
        seen["sample"] = (args.command, args.sampler_type, args.model)
        return 3

    class Plugin:
        @swiftk.hookimpl
        def register_commands(self, register):
            register("hd-hello", hello, help="Say hello")
            register("hd-greet", greet, help="Greet", arguments=[GreetArguments])
            register("sample", sample)

    register_plugin(Plugin(), "hd_commands")
    capsys.readouterr()
    assert _cli("hd-hello", "--name", "kernel") == 0
    assert capsys.readouterr().out == "hello kernel\n"
    assert _cli("hd-greet", "--greeting", "bonjour") == 0
    assert capsys.readouterr().out == "bonjour!\n"
    assert _cli("sample", "--model", DEMO_ID, "--output_dir", str(tmp_path / "s")) == 3
    assert seen["sample"] == ("sample", "sample", DEMO_ID)
    assert _cli("--help") == 0
    listing = capsys.readouterr().out
    assert "hd-hello" in listing and "Say hello [hd_commands]" in listing


def test_hook_register_eval_backends(register_plugin, capsys, tmp_path):
    """`swiftk eval --eval_backend NAME` runs the registered backend: its check first, then its run against
    --eval_url (a real server on 127.0.0.1), whose scores land in eval_result.json and the table."""
    pytest.importorskip("swiftk_eval")
    from swiftk.api import EvalBackendSpec
    from swiftk_eval.testing import FixedServer

    seen: dict = {}

    def check(args):
        if "refuse-me" in args.eval_dataset:
            raise UsageError("--eval_dataset refuse-me: hd_bench cannot evaluate it")

    def run(args, *, base_url, model, output_dir):
        seen.update(base_url=base_url, model=model, output_dir=output_dir)
        return {name: {"hd_score": 0.25} for name in args.eval_dataset}

    class Plugin:
        @swiftk.hookimpl
        def register_eval_backends(self, register):
            register("hd_bench", EvalBackendSpec(run=run, check=check))

    register_plugin(Plugin(), "hd_eval_backends")
    assert _plugins_json(capsys)["hd_eval_backends"]["registers"] == {"eval_backends": ["hd_bench"]}
    out = tmp_path / "out"
    with FixedServer("-", model="served-model") as server:
        argv = ["eval", "--eval_backend", "hd_bench", "--eval_url", server.url, "--eval_output_dir", str(out)]
        assert _cli(*argv, "--eval_dataset", "refuse-me") == 2
        assert not out.exists()  # refused by check() before anything was made
        capsys.readouterr()
        assert _cli(*argv, "--eval_dataset", "a", "b") == 0
    printed = capsys.readouterr().out
    assert seen["base_url"] == server.url and seen["model"] == "served-model"
    record = json.loads((Path(seen["output_dir"]) / "eval_result.json").read_text())
    assert record["results"] == {"a": {"hd_score": 0.25}, "b": {"hd_score": 0.25}}
    assert record["eval_backend"] == "hd_bench" and "| a | hd_score | 0.2500 |" in printed

    # a backend that raises, with the model deployed in this process: one line, and the server is gone
    import threading

    def fails(args, *, base_url, model, output_dir):
        raise RuntimeError("the benchmark broke")

    class Failing:
        @swiftk.hookimpl
        def register_eval_backends(self, register):
            register("hd_fails", fails)  # a bare callable is the run step

    register_plugin(Failing(), "hd_eval_fails")
    capsys.readouterr()
    argv = [
        "eval",
        "--model",
        DEMO_ID,
        "--eval_backend",
        "hd_fails",
        "--eval_dataset",
        "x",
        "--result_path",
        str(tmp_path / "r.jsonl"),
    ]
    assert _cli(*argv, "--eval_output_dir", str(tmp_path / "failed")) == 2
    assert "swiftk: error: --eval_backend hd_fails failed: RuntimeError: the benchmark broke" in capsys.readouterr().err
    assert not [t for t in threading.enumerate() if t.name == "swiftk-background-server"]
    assert not list((tmp_path / "failed").iterdir())  # its empty run folder removed


def test_hook_register_samplers(register_plugin, capsys, tmp_path):
    """`swiftk sample --sampler_type NAME` builds the registered class with the run's SampleContext and writes
    what its sample(rows) returns, batch by batch; `swiftk plugins --json` lists it; args.json names its plugin."""
    pytest.importorskip("swiftk_sample")
    seen: dict = {}

    class Echo:
        def __init__(self, context):
            seen["engine"], seen["cache"] = context.engine, context.cache

        def sample(self, rows):
            seen.setdefault("batches", []).append(len(rows))
            return [{"id": row["__origin__"], "messages": [{"role": "assistant", "content": "x"}]} for row in rows]

    class Plugin:
        @swiftk.hookimpl
        def register_samplers(self, register):
            register("hd_echo", Echo)

    register_plugin(Plugin(), "hd_samplers")
    assert _plugins_json(capsys)["hd_samplers"]["registers"] == {"samplers": ["hd_echo"]}
    data = tmp_path / "q.jsonl"
    data.write_text("".join(json.dumps({"query": f"q{i}", "response": "a"}) + "\n" for i in range(5)))
    out = tmp_path / "out"
    argv = ["sample", "--sampler_type", "hd_echo", "--sampler_engine", "no", "--model", "swiftk/tiny-chat"]
    argv += ["--dataset", str(data), "--num_sampling_per_gpu_batch_size", "2", "--output_dir", str(out)]
    assert _cli(*argv, "--output_file", "e.jsonl") == 0
    assert seen == {"engine": None, "cache": {}, "batches": [2, 2, 1]}
    lines = [json.loads(line) for line in (out / "e.jsonl").read_text().splitlines()]
    assert [line["id"] for line in lines] == [f"{data}:{i}" for i in range(1, 6)]
    record = json.loads((out / "e.args.json").read_text())
    assert record["plugins"]["sampler"]["plugin"] == "hd_samplers" and record["sampler_type"] == "hd_echo"
    with pytest.raises(UsageError, match="hd_echo"):  # a misspelled name lists the registered ones
        from swiftk.cli.builtin import resolve_arguments

        resolve_arguments("sample", ["--sampler_type", "hd_ecko"])


# --- provider hooks ----------------------------------------------------------------------------------


def test_hook_resolve_model_type(register_plugin, tmp_path):
    """The first answer names a folder's model type; None leaves it to the architecture table."""
    from swiftk.api import resolve_model
    from swiftk.cli.builtin import resolve_arguments

    class Plugin:
        @swiftk.hookimpl
        def resolve_model_type(self, model_dir, config):
            return "tiny_chat" if config.get("hd_marker") else None

    register_plugin(Plugin(), "hd_resolver")
    marked, plain = tmp_path / "marked", tmp_path / "plain"
    for folder, extra in ((marked, {"hd_marker": True}), (plain, {})):
        folder.mkdir()
        (folder / "config.json").write_text(json.dumps({"architectures": ["Qwen2ForCausalLM"], **extra}))
    assert resolve_model(resolve_arguments("infer", ["--model", str(marked)])).model_type == "tiny_chat"
    assert resolve_model(resolve_arguments("infer", ["--model", str(plain)])).model_type != "tiny_chat"


def test_hook_download_model(register_plugin, tmp_path, monkeypatch):
    """A hub id that is no folder is asked of download_model: a tryfirst answer is the folder loaded;
    None hands the id to the built-in download, which refuses offline with what to do instead."""
    import shutil

    from swiftk.api import UsageError, resolve_model
    from swiftk.cli.builtin import resolve_arguments

    demo = resolve_model(resolve_arguments("infer", ["--model", "swiftk/tiny-chat"])).model_dir
    mirror = tmp_path / "mirror" / "tiny"
    shutil.copytree(demo, mirror)
    asked = []

    class Mirror:
        @swiftk.hookimpl(tryfirst=True)
        def download_model(self, model_id, args):
            asked.append((model_id, args.model_revision))
            return str(mirror) if model_id.startswith("hdmirror/") else None

    register_plugin(Mirror(), "hd_mirror")
    monkeypatch.setenv("SWIFTK_OFFLINE", "1")
    info = resolve_model(resolve_arguments("infer", ["--model", "hdmirror/tiny", "--model_revision", "v1"]))
    assert info.model_dir == str(mirror) and asked == [("hdmirror/tiny", "v1")]
    with pytest.raises(
        UsageError,
        match=r"--model someorg/absent: not a local folder, and ModelScope cannot be "
        r"reached \(offline",
    ):
        resolve_model(resolve_arguments("infer", ["--model", "someorg/absent"]))


def test_hook_upload_model(register_plugin, tmp_path, capsys):
    """``swiftk export --push_to_hub`` hands the first answer the folder to upload: the --adapters checkpoint
    as is when there is nothing else to do, the merged folder, complete, with --merge_lora; its URL is shown."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    ckpt = tmp_path / "checkpoint-1"
    base = AutoModelForCausalLM.from_pretrained(_demo_dir())
    get_peft_model(base, LoraConfig(r=2, target_modules=["q_proj", "v_proj"])).save_pretrained(ckpt)
    (ckpt / "args.json").write_text(json.dumps({"model": DEMO_ID, "train_type": "lora"}))
    asked = []

    class Hub:
        @swiftk.hookimpl(tryfirst=True)
        def upload_model(self, folder, args):
            asked.append((folder, args.hub_model_id, set(os.listdir(folder))))
            return f"https://hub.example/{args.hub_model_id}"

    register_plugin(Hub(), "hd_hub")
    capsys.readouterr()
    assert _cli("export", "--adapters", str(ckpt), "--push_to_hub", "true", "--hub_model_id", "me/x") == 0
    assert asked[0][:2] == (str(ckpt), "me/x") and "adapter_model.safetensors" in asked[0][2]
    assert f"{ckpt} pushed to https://hub.example/me/x" in capsys.readouterr().out
    push_merged = ["--merge_lora", "true", "--push_to_hub", "true", "--hub_model_id", "me/x-merged"]
    assert _cli("export", "--adapters", str(ckpt), *push_merged) == 0
    merged = f"{ckpt}-merged"
    assert asked[1][:2] == (merged, "me/x-merged") and {"config.json", "model.safetensors"} <= asked[1][2]
    assert f"{merged} pushed to https://hub.example/me/x-merged" in capsys.readouterr().out


def test_hook_load_model(register_plugin):
    """The first answer is the loaded model: the kernel then fills the pad token, attaches model_info and
    calls post_model_load; None hands every other model type back to swift-plugin-models' loader."""
    import torch
    from transformers import AutoTokenizer

    from swiftk.api import load_model_and_processor
    from swiftk.cli.builtin import resolve_arguments

    asked, loaded = [], []

    class Loader:
        @swiftk.hookimpl(tryfirst=True)
        def load_model(self, args, model_info, load_weights):
            asked.append((model_info.model_type, load_weights))
            if not args.model_kwargs or "hd_own_loader" not in args.model_kwargs:
                return None
            tokenizer = AutoTokenizer.from_pretrained(model_info.model_dir)
            tokenizer.pad_token = None
            model = torch.nn.Linear(2, 2) if load_weights else None
            return model, tokenizer

        @swiftk.hookimpl
        def post_model_load(self, model):
            loaded.append(model)

    register_plugin(Loader(), "hd_loader")
    own = ["--model", "swiftk/tiny-chat", "--model_kwargs", '{"hd_own_loader": 1}']
    model, tokenizer, info = load_model_and_processor(resolve_arguments("infer", own))
    assert isinstance(model, torch.nn.Linear) and model.model_info is info and loaded == [model]
    assert tokenizer.pad_token == tokenizer.eos_token  # the kernel's step after any loader
    none, tokenizer, _ = load_model_and_processor(resolve_arguments("infer", own), load_model=False)
    assert none is None and asked[-1] == ("tiny_chat", False)
    builtin, _, _ = load_model_and_processor(resolve_arguments("infer", ["--model", "swiftk/tiny-chat"]))
    assert type(builtin).__name__.endswith("ForCausalLM") and len(loaded) == 2


def test_hook_load_datasets(register_plugin):
    """A tryfirst implementation answers for its own scheme; None hands other datasets to the built-in one."""
    from datasets import Dataset

    from swiftk.api import ORIGIN, load_datasets
    from swiftk.cli.builtin import resolve_arguments

    class Warehouse:
        @swiftk.hookimpl(tryfirst=True)
        def load_datasets(self, args):
            if not args.dataset or not args.dataset[0].startswith("hdwarehouse://"):
                return None
            rows = [{**r, ORIGIN: f"{args.dataset[0]}[{i}]"} for i, r in enumerate(_rows(3, "warehouse"))]
            return Dataset.from_list(rows), None

    register_plugin(Warehouse(), "hd_warehouse")
    train, val = load_datasets(resolve_arguments("sft", ["--dataset", "hdwarehouse://q", "--split_dataset_ratio", "0"]))
    assert val is None and [r["messages"][0]["content"] for r in train] == ["warehouse 0", "warehouse 1", "warehouse 2"]
    train, _ = load_datasets(resolve_arguments("sft", ["--dataset", "swiftk/demo-sft#2", "--split_dataset_ratio", "0"]))
    assert len(train) == 2 and not train[0]["messages"][0]["content"].startswith("warehouse")


def test_hook_encode_dataset(register_plugin):
    """A tryfirst implementation encodes the datasets it takes (with the options); None falls back."""
    from datasets import Dataset

    from swiftk.api import encode_dataset

    seen = {}

    class Encoder:
        @swiftk.hookimpl(tryfirst=True)
        def encode_dataset(self, dataset, encode_fn, options):
            if "hd" not in dataset.column_names:
                return None
            seen["options"] = options
            return [dict(encode_fn(row), by="hd") for row in dataset]

    register_plugin(Encoder(), "hd_encoder")

    def encode(row):
        return {"input_ids": [len(row["text"])], "labels": [1]}

    mine = encode_dataset(Dataset.from_list([{"text": "abc", "hd": 1}]), encode, num_proc=1, desc="Probe")
    assert mine == [{"input_ids": [3], "labels": [1], "by": "hd"}]
    assert seen["options"]["desc"] == "Probe" and seen["options"]["num_proc"] == 1
    builtin = encode_dataset(Dataset.from_list([{"text": "abcd"}]), encode, num_proc=1)
    assert list(builtin[0]["input_ids"]) == [4] and "by" not in builtin[0]


def test_hook_template_engine(register_plugin):
    """The engine's class encodes a TemplateMeta without template_cls, built as cls(processor, meta, **options)."""
    from swiftk.api import get_template
    from swiftk.cli.builtin import resolve_arguments

    class HdEngine:
        def __init__(self, processor, meta, **options):
            self.processor, self.meta, self.options = processor, meta, options

    class Plugin:
        @swiftk.hookimpl
        def register_templates(self, register):
            register("hd_plain", TemplateMeta("hd_plain", prompt=["{{QUERY}}"]))

        @swiftk.hookimpl(tryfirst=True)
        def template_engine(self):
            return HdEngine

    register_plugin(Plugin(), "hd_engine")
    tokenizer = _tokenizer()
    template = get_template(resolve_arguments("sft", ["--template", "hd_plain", "--max_length", "32"]), tokenizer)
    assert isinstance(template, HdEngine)
    assert template.processor is tokenizer and template.meta.template_type == "hd_plain"
    assert template.options["max_length"] == 32 and template.options["mode"] == "train"


def test_hook_mswift_facade(register_plugin, tmp_path, capsys):
    """Names a plugin offers are importable from ``swift.llm`` in a file loaded with --external_plugins."""
    import importlib.util

    if importlib.util.find_spec("swift") is not None:
        pytest.skip("the real ms-swift is installed: files use it instead of the facade")

    class HdPreprocessor:
        pass

    class Plugin:
        @swiftk.hookimpl
        def mswift_facade(self):
            return {"HdPreprocessor": HdPreprocessor}

    register_plugin(Plugin(), "hd_facade")
    plugin_file = tmp_path / "ms_swift_file.py"
    plugin_file.write_text(
        "from swift.llm import DatasetMeta, HdPreprocessor, register_dataset\n"
        "register_dataset(DatasetMeta(dataset_name='hd/facade', dataset_path='x.jsonl',\n"
        "                             preprocess_func=HdPreprocessor()))\n"
    )
    listed = _plugins_json(capsys, "--external_plugins", str(plugin_file))
    assert listed[str(plugin_file)]["registers"] == {"datasets": ["hd/facade"]}
    from swiftk.api import get_host

    assert isinstance(get_host().get("datasets", "hd/facade").preprocess_func, HdPreprocessor)
