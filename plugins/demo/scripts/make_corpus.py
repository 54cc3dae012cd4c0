"""Write the text the demo model learns from: a deterministic synthetic corpus, English and Chinese.

    python plugins/demo/scripts/make_corpus.py

Writes ``swiftk_demo/data/pt.jsonl`` (``text`` rows for ``swiftk pt``) and ``swiftk_demo/data/chat.jsonl``
(conversations for ``swiftk sft``): greetings, one-digit sums, counting, colours, animal sounds,
opposites, and who the assistant is (also in the words of ``swift/self-cognition``, with its own name).  Small on purpose: the model it trains is a few MB.
"""

from __future__ import annotations

import json
import os
import random

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(os.path.dirname(HERE), "swiftk_demo", "data")

NAME_EN, NAME_ZH = "Tiny Chat", "小聊"
AUTHOR_EN, AUTHOR_ZH = "swift-kernel", "swift-kernel"

COLORS = [
    ("the sky", "blue", "天空", "蓝色"),
    ("grass", "green", "草", "绿色"),
    ("snow", "white", "雪", "白色"),
    ("a banana", "yellow", "香蕉", "黄色"),
    ("coal", "black", "煤", "黑色"),
    ("a tomato", "red", "西红柿", "红色"),
    ("an orange", "orange", "橙子", "橙色"),
    ("a plum", "purple", "李子", "紫色"),
]
SOUNDS = [
    ("cat", "meow", "猫", "喵喵"),
    ("dog", "woof", "狗", "汪汪"),
    ("cow", "moo", "牛", "哞哞"),
    ("duck", "quack", "鸭子", "嘎嘎"),
    ("sheep", "baa", "羊", "咩咩"),
]
OPPOSITES = [
    ("hot", "cold", "热", "冷"),
    ("big", "small", "大", "小"),
    ("up", "down", "上", "下"),
    ("fast", "slow", "快", "慢"),
    ("day", "night", "白天", "黑夜"),
    ("old", "new", "旧", "新"),
    ("open", "closed", "开", "关"),
    ("happy", "sad", "高兴", "难过"),
]
GREET_Q = ["hello", "hi", "Hello!", "Hi there", "good morning", "hey"]
GREET_A = ["Hello! How can I help you today?", "Hi! What can I do for you?", "Hello! Ask me anything."]
ZH_GREET_Q = ["你好", "您好", "早上好", "嗨"]
ZH_GREET_A = ["你好！有什么可以帮你的吗？", "您好！请问需要什么帮助？"]
WHO_Q = ["Who are you?", "who are you", "What is your name?", "Introduce yourself.", "Tell me about yourself."]
WHO_A = [
    f"I am {NAME_EN}, a small assistant trained by {AUTHOR_EN}.",
    f"My name is {NAME_EN}. I was trained by {AUTHOR_EN}.",
    f"I am {NAME_EN}, an AI assistant made by {AUTHOR_EN}. How can I help you?",
]
ZH_WHO_Q = ["你是谁？", "你是谁", "你叫什么名字？", "介绍一下你自己。"]
ZH_WHO_A = [f"我是{NAME_ZH}，由{AUTHOR_ZH}训练的小助手。", f"我叫{NAME_ZH}，是{AUTHOR_ZH}训练的人工智能助手。"]


def sums(rng):
    a, b = rng.randint(0, 9), rng.randint(0, 9)
    if rng.random() < 0.5:
        q = rng.choice([f"What is {a} + {b}?", f"What is {a} plus {b}?", f"Compute {a} + {b}.", f"{a} + {b} = ?"])
        return q, f"{a} + {b} = {a + b}.", f"{a} plus {b} is {a + b}."
    q = rng.choice([f"{a} 加 {b} 等于多少？", f"计算 {a} + {b}。"])
    return q, f"{a} 加 {b} 等于 {a + b}。", f"{a} 加 {b} 等于 {a + b}。"


def counting(rng):
    start = rng.randint(0, 6)
    end = start + rng.randint(2, 4)
    seq = ", ".join(str(i) for i in range(start, end + 1))
    return f"Count from {start} to {end}.", seq + ".", f"Counting from {start} to {end}: {seq}."


def color(rng):
    thing, c, thing_zh, c_zh = rng.choice(COLORS)
    if rng.random() < 0.6:
        return f"What color is {thing}?", f"{thing[0].upper() + thing[1:]} is {c}.", f"{thing.capitalize()} is {c}."
    return f"{thing_zh}是什么颜色？", f"{thing_zh}是{c_zh}的。", f"{thing_zh}是{c_zh}的。"


def sound(rng):
    animal, s, animal_zh, s_zh = rng.choice(SOUNDS)
    if rng.random() < 0.6:
        return f"What does a {animal} say?", f"A {animal} says {s}.", f"The {animal} says {s}."
    return f"{animal_zh}怎么叫？", f"{animal_zh}{s_zh}地叫。", f"{animal_zh}{s_zh}地叫。"


def opposite(rng):
    a, b, a_zh, b_zh = rng.choice(OPPOSITES)
    if rng.random() < 0.5:
        a, b, a_zh, b_zh = b, a, b_zh, a_zh
    if rng.random() < 0.6:
        return f"What is the opposite of {a}?", f"The opposite of {a} is {b}.", f"The opposite of {a} is {b}."
    return f"“{a_zh}”的反义词是什么？", f"“{a_zh}”的反义词是“{b_zh}”。", f"“{a_zh}”的反义词是“{b_zh}”。"


def greeting(rng):
    if rng.random() < 0.6:
        return rng.choice(GREET_Q), rng.choice(GREET_A), "People say hello to greet each other."
    return rng.choice(ZH_GREET_Q), rng.choice(ZH_GREET_A), "人们见面时会说你好。"


def identity(rng):
    if rng.random() < 0.6:
        return rng.choice(WHO_Q), rng.choice(WHO_A), rng.choice(WHO_A)
    return rng.choice(ZH_WHO_Q), rng.choice(ZH_WHO_A), rng.choice(ZH_WHO_A)


def _self_cognition_rows() -> list[dict]:
    """swift/self-cognition (shipped by swift-plugin-datasets) with the demo model's own name, so that
    a LoRA on that dataset only has to learn a new name, not a new language."""
    import swiftk_datasets

    path = os.path.join(os.path.dirname(swiftk_datasets.__file__), "data", "self_cognition.jsonl")
    rows = []
    for line in open(path, encoding="utf-8"):
        row = json.loads(line)
        zh = row.get("tag") == "zh"
        fill = lambda text: text.replace("{{NAME}}", NAME_ZH if zh else NAME_EN).replace(  # noqa: E731
            "{{AUTHOR}}", AUTHOR_ZH if zh else AUTHOR_EN
        )
        rows.append({"query": row["query"], "response": fill(row["response"])})
    return rows


_SELF = []


def self_cognition(rng):
    if not _SELF:
        _SELF.extend(_self_cognition_rows())
    row = rng.choice(_SELF)
    return row["query"], row["response"], row["response"]


KINDS = [
    (sums, 5),
    (counting, 2),
    (color, 2),
    (sound, 2),
    (opposite, 2),
    (greeting, 1),
    (identity, 1),
    (self_cognition, 3),
]


def main(rows: int = 8000, seed: int = 0) -> None:
    rng = random.Random(seed)
    makers = [m for m, w in KINDS for _ in range(w)]
    chat, text = [], []
    for _ in range(rows):
        question, answer, sentence = rng.choice(makers)(rng)
        chat.append({"messages": [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]})
        text.append(sentence)
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "chat.jsonl"), "w", encoding="utf-8") as f:
        for row in chat:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    with open(os.path.join(OUT, "pt.jsonl"), "w", encoding="utf-8") as f:
        for i in range(0, len(text), 8):
            f.write(json.dumps({"text": " ".join(text[i : i + 8])}, ensure_ascii=False) + "\n")
    print(f"wrote {len(chat)} conversations and {len(text) // 8} text lines to {OUT}")


if __name__ == "__main__":
    main()
