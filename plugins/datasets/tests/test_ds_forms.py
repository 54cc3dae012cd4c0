"""Each supported row form (one fixture file each) becomes standard messages rows."""

from __future__ import annotations

import json

import pytest

from ds_helpers import load, messages, rows
from ds_helpers import data_dir, offline_fresh_host, tiny_tokenizer  # noqa: F401 (fixtures)


def test_messages_openai_roles_tool_calls_and_content_parts(data_dir):
    train, val = load("--dataset", str(data_dir / "messages.jsonl"))
    assert val is None
    got = messages(train)
    assert got[0] == [("system", "You are helpful."), ("user", "Hi"), ("assistant", "Hello!")]
    assert got[1][0] == ("user", "Weather in Paris?")
    role, call = got[1][1]
    assert role == "tool_call" and json.loads(call) == {"name": "get_weather", "arguments": {"city": "Paris"}}
    assert got[1][2:] == [("tool", "18C"), ("assistant", "It is 18C.")]
    assert got[2] == [("user", "Two parts"), ("assistant", "Joined.")]
    tools = [r["tools"] for r in train]
    assert json.loads(tools[1])[0]["function"]["name"] == "get_weather" and tools[0] is None
    # the blank line 3 is skipped and line numbers stay true
    assert [r["__origin__"].rsplit(":", 1)[1] for r in train] == ["1", "2", "4"]


def test_sharegpt_from_value_with_system_column_and_agent_roles(data_dir):
    train, _ = load("--dataset", str(data_dir / "sharegpt.jsonl"))
    got = messages(train)
    assert got[0] == [("system", "Be brief."), ("user", "What is 2+2?"), ("assistant", "4")]
    assert [r for r, _ in got[1]] == ["system", "user", "tool_call", "tool", "assistant"]
    assert json.loads(got[1][2][1]) == {"name": "clock", "arguments": {"tz": "Asia/Tokyo"}}
    assert json.loads(train[1]["tools"]) == [{"name": "clock"}]


def test_alpaca_json_list_with_history_and_line_numbers(data_dir):
    train, _ = load("--dataset", str(data_dir / "alpaca.json"))
    got = messages(train)
    assert got[0] == [("user", "Translate to French.\ngood morning"), ("assistant", "bonjour")]
    assert got[1] == [
        ("user", "Hi"),
        ("assistant", "Hello! Ask me anything."),
        ("user", "Name a prime number."),
        ("assistant", "7"),
    ]
    assert got[2] == [("system", "You are a poet."), ("user", "Be terse."), ("assistant", "Ok.")]
    assert [r["__origin__"] for r in train] == [f"{data_dir / 'alpaca.json'}:{n}" for n in (2, 7, 9)]


def test_query_response_csv_with_system_history_and_quoted_newlines(data_dir):
    train, _ = load("--dataset", str(data_dir / "query_response.csv"))
    got = messages(train)
    assert got[0] == [("user", "What is the capital of Italy?"), ("assistant", "Rome.")]
    assert got[1] == [
        ("system", "Answer in one word."),
        ("user", "Capital of Italy?"),
        ("assistant", "Rome."),
        ("user", "And of Spain?"),
        ("assistant", "Madrid."),
    ]
    assert got[2] == [("user", "Multi\nline question?"), ("assistant", "Multi-line answer,\nwith a comma.")]
    assert [r["__origin__"].rsplit(":", 1)[1] for r in train] == ["2", "3", "4"]


def test_pretraining_text_becomes_one_assistant_message(data_dir):
    train, _ = load("--dataset", str(data_dir / "pretrain.jsonl"), command="pt")
    assert rows(train) == [
        {"messages": [{"role": "assistant", "content": "The sky is blue."}]},
        {"messages": [{"role": "assistant", "content": "Water boils at 100 degrees Celsius."}]},
    ]


def test_preference_rejected_response_and_rejected_messages(data_dir):
    train, _ = load("--dataset", str(data_dir / "dpo.jsonl"), "--rlhf_type", "dpo", command="rlhf")
    assert [r["rejected_response"] for r in train] == ["5", "Lyon"]
    assert train[1]["rejected_messages"][-1] == {"role": "assistant", "content": "Lyon"}
    assert train[0]["rejected_messages"] is None


def test_preference_chosen_rejected_strings_lists_and_hh_dialogues(data_dir):
    train, _ = load("--dataset", str(data_dir / "chosen_rejected.jsonl"), "--rlhf_type", "dpo", command="rlhf")
    got = messages(train)
    assert got[0] == [("user", "Say hi."), ("assistant", "Hi!")]
    assert got[1] == [("user", "Color of grass?"), ("assistant", "Green.")]
    assert got[2] == [("user", "Is ice cold?"), ("assistant", "Yes, ice is cold.")]
    assert [r["rejected_response"] for r in train] == ["No.", "Purple.", "No."]


def test_kto_label_spellings(data_dir):
    train, _ = load("--dataset", str(data_dir / "kto.jsonl"), "--rlhf_type", "kto", command="rlhf")
    assert [r["label"] for r in train] == [True, False, True]
    assert messages(train)[1] == [("user", "1+2?"), ("assistant", "4")]


def test_grpo_prompts_keep_solution_for_reward_functions(data_dir):
    train, _ = load("--dataset", str(data_dir / "grpo.jsonl"), "--rlhf_type", "grpo", command="rlhf")
    assert rows(train) == [
        {"messages": [{"role": "user", "content": "What is 3*4?"}], "solution": "12"},
        {"messages": [{"role": "user", "content": "What is 10-7?"}], "solution": "3"},
    ]


def test_remove_unused_columns_drops_extras_unless_false(data_dir):
    path = str(data_dir / "columns.jsonl")
    mapping = '{"text1": "query", "text2": "response"}'
    train, _ = load("--dataset", path, "--columns", mapping)
    assert train.column_names == ["messages", "__origin__"]
    train, _ = load("--dataset", path, "--columns", mapping, "--remove_unused_columns", "false")
    assert [r["source"] for r in train] == ["quiz", "quiz"]


def test_columns_remapping(data_dir):
    train, _ = load(
        "--dataset", str(data_dir / "columns.jsonl"), "--columns", '{"text1": "query", "text2": "response"}'
    )
    assert messages(train) == [
        [("user", "Who wrote Hamlet?"), ("assistant", "Shakespeare.")],
        [("user", "Who painted Guernica?"), ("assistant", "Picasso.")],
    ]


def test_columns_mapping_onto_an_existing_column_is_an_error(data_dir):
    from swiftk.errors import UsageError

    with pytest.raises(UsageError, match="already has a column 'source'"):
        load("--dataset", str(data_dir / "columns.jsonl"), "--columns", '{"text1": "source"}')


def test_mixed_datasets_are_aligned_and_concatenated(data_dir):
    train, _ = load(
        "--dataset",
        str(data_dir / "messages.jsonl"),
        str(data_dir / "pretrain.jsonl"),
        str(data_dir / "alpaca.json"),
        command="pt",
    )
    assert len(train) == 3 + 2 + 3
    assert train.column_names == ["messages", "tools", "__origin__"]
    assert train[4]["tools"] is None


def test_folder_of_files_and_save_to_disk_and_hub_clone(tmp_path, data_dir):
    import shutil

    from datasets import Dataset, DatasetDict

    folder = tmp_path / "mixed"
    folder.mkdir()
    shutil.copy(data_dir / "pretrain.jsonl", folder / "a.jsonl")
    shutil.copy(data_dir / "alpaca.json", folder / "b.json")
    train, _ = load("--dataset", str(folder), command="pt")
    assert len(train) == 5 and train[0]["__origin__"] == f"{folder}/a.jsonl:1"

    saved = tmp_path / "saved"
    DatasetDict(
        {
            "train": Dataset.from_list([{"query": "q", "response": "r"}] * 3),
            "test": Dataset.from_list([{"query": "t", "response": "t"}]),
        }
    ).save_to_disk(str(saved))
    train, _ = load("--dataset", str(saved))
    assert messages(train) == [[("user", "q"), ("assistant", "r")]] * 3
    assert train[2]["__origin__"] == f"{saved}[2]"

    clone = tmp_path / "owner-name"
    (clone / "data").mkdir(parents=True)
    Dataset.from_list([{"instruction": "i", "output": "o"}] * 4).to_parquet(str(clone / "data" / "train-00000.parquet"))
    Dataset.from_list([{"instruction": "x", "output": "y"}]).to_parquet(str(clone / "data" / "test-00000.parquet"))
    train, _ = load("--dataset", str(clone))
    assert messages(train) == [[("user", "i"), ("assistant", "o")]] * 4
