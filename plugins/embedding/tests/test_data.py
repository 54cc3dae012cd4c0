"""Rows in ms-swift's forms become the texts the model reads, and the collator's batch layout."""

from __future__ import annotations

import random

from swiftk_embedding.data import Collator, pair, texts_of


def turn(role, text):
    return {"role": role, "content": text}


def test_the_older_pair_form_reads_the_answer_as_the_positive():
    row = {"messages": [turn("user", "q"), turn("assistant", "a")], "rejected_response": "r"}
    anchor, positives, negatives = texts_of(row, "embedding")
    assert anchor == [turn("user", "q")] and positives == [[turn("user", "a")]] and negatives == [[turn("user", "r")]]
    assert texts_of(row, "reranker")[1] == [[turn("assistant", "a")]]


def test_a_document_follows_the_query_and_its_system_wins():
    query = [turn("system", "query instruction"), turn("user", "q")]
    assert pair(query, [turn("assistant", "d")]) == query + [turn("assistant", "d")]
    own = pair(query, [turn("system", "doc instruction"), turn("user", "d")])  # a user-role document answers
    assert own == [turn("system", "doc instruction"), turn("user", "q"), turn("assistant", "d")]


def test_the_reranker_collator_groups_each_positive_with_its_negatives(monkeypatch):
    monkeypatch.setenv("MAX_NEGATIVE_SAMPLES", "2")
    row = {"sequences": [[1], [2], [3, 3], [4], [5]], "labels": [1.0, 0.0, 0.0, 0.0, 0.0]}
    batch = Collator("reranker", 0, rng=random.Random(0))([row, row])
    assert batch["labels"].tolist() == [1, 0, 0, 1, 0, 0]
    assert batch["input_ids"].shape == (6, 2) and batch["input_ids"][0].tolist() == [1, 0]
    assert batch["attention_mask"][0].tolist() == [1, 0]
    embedded = Collator("embedding", 0)([{"sequences": [[1], [2], [3]], "labels": [1.0, 0.0]}])
    assert embedded["input_ids"].tolist() == [[1], [2], [3]] and embedded["labels"].tolist() == [1.0, 0.0]
