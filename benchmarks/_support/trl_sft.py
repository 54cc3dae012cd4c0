"""The same SFT job through plain trl SFTTrainer (the comparison of benchmarks/sft_cpu.py)."""

import json
import os
import sys
import time

from datasets import load_dataset
from peft import LoraConfig
from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback
from trl import SFTConfig, SFTTrainer

model_dir, data, out, train_type, packing = sys.argv[1:6]
tokenizer = AutoTokenizer.from_pretrained(model_dir)
model = AutoModelForCausalLM.from_pretrained(model_dir, dtype="float32")
dataset = load_dataset("json", data_files=data, split="train")


class FirstStep(TrainerCallback):
    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == 1:
            with open(os.environ["SWIFTK_BENCH_OUT"], "w") as f:
                json.dump({"first_step_at": time.time()}, f)


config = SFTConfig(
    output_dir=out,
    per_device_train_batch_size=8,
    num_train_epochs=1,
    learning_rate=1e-4,
    max_length=256,
    packing=packing == "true",
    assistant_only_loss=False,
    report_to="none",
    save_strategy="no",
    logging_steps=50,
    gradient_checkpointing=False,
    dataloader_num_workers=0,
    include_num_input_tokens_seen="non_padding",
    bf16=False,
    use_cpu=True,
)
peft_config = (
    LoraConfig(r=8, lora_alpha=32, lora_dropout=0.05, target_modules="all-linear") if train_type == "lora" else None
)
trainer = SFTTrainer(
    model=model,
    args=config,
    train_dataset=dataset,
    processing_class=tokenizer,
    peft_config=peft_config,
    callbacks=[FirstStep()],
)
start = time.time()
trainer.train()
runtime = time.time() - start
import resource  # noqa: E402

print(
    json.dumps(
        {
            "tokens": trainer.state.num_input_tokens_seen,
            "train_runtime": runtime,
            "peak_memory_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        }
    )
)
