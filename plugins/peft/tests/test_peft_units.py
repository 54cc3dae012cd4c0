"""Units of swift-plugin-peft: option parsing, target selection on multimodal models, shifted sparse
attention, LLaMA-Pro expansion, LoRA+ groups, AdaLoRA's callback, one-line errors."""

from __future__ import annotations

import types

import pytest
import torch

from swiftk.errors import UsageError


def ns(**values):
    obj = types.SimpleNamespace(**values)
    obj.get = lambda k, d=None: getattr(obj, k, d)
    return obj


def tiny_qwen(layers=4, hidden=32, tie=False):
    from transformers import Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(0)
    return Qwen2ForCausalLM(
        Qwen2Config(
            vocab_size=64,
            hidden_size=hidden,
            intermediate_size=64,
            num_hidden_layers=layers,
            num_attention_heads=4,
            num_key_value_heads=2,
            tie_word_embeddings=tie,
        )
    )


# --- --init_weights ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value, expected",
    [
        (True, True),
        ("false", False),
        ("gaussian", "gaussian"),
        ("pissa", "pissa"),
        ("pissa_niter_16", "pissa_niter_16"),
        ("lora-ga", "lora_ga"),
        ("olora", "olora"),
    ],
)
def test_init_weights_values(value, expected):
    from swiftk_peft.lora import init_lora_weights

    assert init_lora_weights(value) == expected


def test_unknown_init_weights_is_a_clear_error():
    from swiftk_peft.lora import init_lora_weights

    with pytest.raises(UsageError, match="--init_weights bat: not a LoRA init; valid: true, false, gaussian"):
        init_lora_weights("bat")


# --- target modules on a multimodal model --------------------------------------------------------------


def tiny_llava():
    from transformers import CLIPVisionConfig, LlamaConfig, LlavaConfig, LlavaForConditionalGeneration

    vision = CLIPVisionConfig(
        hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2, image_size=32, patch_size=16
    )
    text = LlamaConfig(
        vocab_size=64,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=1,
        num_attention_heads=4,
        num_key_value_heads=2,
    )
    return LlavaForConditionalGeneration(LlavaConfig(vision_config=vision, text_config=text, image_token_index=63))


def _args(**values):
    base = dict(
        target_modules=["all-linear"],
        target_regex=None,
        freeze_llm=False,
        freeze_vit=True,
        freeze_aligner=True,
        trainable_parameters=[],
    )
    base.update(values)
    return ns(**base)


def test_all_linear_on_a_multimodal_model_is_the_llm_only_by_default():
    from swiftk_peft.targets import resolve_target_modules

    targets = resolve_target_modules(tiny_llava(), _args())
    assert targets and all("language_model" in t for t in targets), targets
    assert not any("lm_head" in t for t in targets)
    assert any(t.endswith("self_attn.q_proj") for t in targets)


def test_freeze_flags_choose_the_parts():
    from swiftk_peft.targets import resolve_target_modules

    model = tiny_llava()
    with_vit = resolve_target_modules(model, _args(freeze_vit=False))
    assert any("vision_tower" in t for t in with_vit) and not any("multi_modal_projector" in t for t in with_vit)
    aligner_only = resolve_target_modules(model, _args(freeze_llm=True, freeze_aligner=False))
    assert aligner_only and all("multi_modal_projector" in t for t in aligner_only)
    with pytest.raises(UsageError, match="leaves no part of the model to tune"):
        resolve_target_modules(model, _args(freeze_llm=True))


def test_full_training_freezes_the_vision_tower_and_aligner():
    from swiftk_peft.targets import freeze_multimodal_parts

    model = tiny_llava()
    frozen = freeze_multimodal_parts(model, _args())
    assert frozen > 0
    for name, param in model.named_parameters():
        assert param.requires_grad == ("vision_tower" not in name and "multi_modal_projector" not in name), name


def test_text_model_keeps_leaf_names_and_never_the_head():
    from swiftk_peft.targets import resolve_target_modules

    assert resolve_target_modules(tiny_qwen(), _args()) == [
        "down_proj",
        "gate_proj",
        "k_proj",
        "o_proj",
        "q_proj",
        "up_proj",
        "v_proj",
    ]


# --- LongLoRA's shifted sparse attention ----------------------------------------------------------------


def reference_s2(q, k, v, group):
    """The LongLoRA paper's non-flash S2-Attn (llama_attn_replace.py), on (b, heads, len, dim) tensors."""
    b, h, n, d = q.shape

    def shift(x):
        x = x.clone()
        x[:, h // 2 :] = x[:, h // 2 :].roll(-group // 2, dims=2)
        return x.transpose(1, 2).reshape(b * (n // group), group, h, d).transpose(1, 2)

    q, k, v = shift(q), shift(k), shift(v)
    weights = q @ k.transpose(2, 3) / d**0.5
    causal = torch.full((group, group), float("-inf")).triu(1)
    out = torch.softmax(weights + causal, dim=-1) @ v
    out = out.transpose(1, 2).reshape(b, n, h, d)
    out[:, :, h // 2 :] = out[:, :, h // 2 :].roll(group // 2, dims=1)
    return out


def test_s2_attention_matches_the_reference_while_training_and_is_full_attention_otherwise():
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    from swiftk_peft.longlora import s2_attention_forward

    torch.manual_seed(0)
    q, k, v = (torch.randn(2, 4, 16, 8) for _ in range(3))
    module = torch.nn.Module()
    module.num_key_value_groups = 1
    module.is_causal = True
    out, _ = s2_attention_forward(module, q, k, v, None, scaling=8**-0.5)
    assert torch.allclose(out, reference_s2(q, k, v, group=4), atol=1e-5)
    module.eval()
    plain, _ = s2_attention_forward(module, q, k, v, None, scaling=8**-0.5)
    expected, _ = sdpa_attention_forward(module, q, k, v, None, scaling=8**-0.5, is_causal=True)
    assert torch.allclose(plain, expected, atol=1e-6) and not torch.allclose(plain, out, atol=1e-3)


def test_s2_attention_pads_lengths_the_group_does_not_divide():
    from swiftk_peft.longlora import s2_attention_forward

    module = torch.nn.Module()
    module.num_key_value_groups = 2
    q = torch.randn(1, 4, 13, 8)
    k, v = torch.randn(1, 2, 13, 8), torch.randn(1, 2, 13, 8)
    out, _ = s2_attention_forward(module, q, k, v, None, scaling=8**-0.5)
    assert out.shape == (1, 13, 4, 8) and torch.isfinite(out).all()


def test_longlora_trains_with_s2_attention_and_refuses_other_architectures():
    from swiftk_peft.longlora import ATTN_NAME, prepare_longlora

    args = ns(
        lora_rank=2,
        lora_alpha=4,
        lora_dropout=0.0,
        lora_bias="none",
        target_modules=["all-linear"],
        target_regex=None,
        modules_to_save=[],
        use_dora=False,
        use_rslora=False,
        init_weights=True,
        task_type=None,
        adapters=[],
        lora_dtype=None,
        freeze_vit=True,
    )
    model = prepare_longlora(tiny_qwen(tie=True), args)
    assert model.config._attn_implementation == ATTN_NAME
    names = {n for n, p in model.named_parameters() if p.requires_grad}
    assert any("embed_tokens" in n for n in names) and any("input_layernorm" in n for n in names)
    model.train()(input_ids=torch.randint(0, 64, (1, 12)), labels=torch.randint(0, 64, (1, 12))).loss.backward()

    class NoBackend(torch.nn.Module):
        _supports_attention_backend = False

    with pytest.raises(UsageError, match="does not route its attention through transformers' AttentionInterface"):
        prepare_longlora(NoBackend(), args)


# --- LLaMA-Pro ---------------------------------------------------------------------------------------------


def test_llamapro_plan_and_identity_at_init():
    from swiftk_peft.llamapro import expand, plan

    assert plan(4, 2, 2) == [2, 5] and plan(4, 4, 2) == [2, 3, 6, 7] and plan(4, 4, 4) == [1, 3, 5, 7]
    with pytest.raises(UsageError, match="--llamapro_num_groups 3 must divide the model's 4 layers"):
        plan(4, 3, 3)
    with pytest.raises(UsageError, match="must be a multiple of --llamapro_num_groups"):
        plan(4, 3, 2)
    model = tiny_qwen().eval()
    ids = torch.randint(0, 64, (2, 10))
    with torch.no_grad():
        before = model(input_ids=ids).logits
        expand(model, 4, 2)
        after = model(input_ids=ids).logits
    assert model.config.num_hidden_layers == 8 and len(model.config.layer_types) == 8
    assert [layer.self_attn.layer_idx for layer in model.model.layers] == list(range(8))
    assert torch.allclose(before, after, atol=1e-6)


# --- LoRA+ and AdaLoRA -----------------------------------------------------------------------------------


def test_lorap_optimizer_gives_b_matrices_a_larger_learning_rate():
    from peft import LoraConfig, get_peft_model

    from swiftk_peft.loraplus import create_lorap_optimizer

    model = get_peft_model(tiny_qwen(), LoraConfig(r=2, target_modules=["q_proj"]))
    optimizer, scheduler = create_lorap_optimizer(
        ns(lorap_lr_ratio=16.0, learning_rate=1e-4, weight_decay=0.0, optim="adamw_torch"), model
    )
    rates = sorted({group["lr"] for group in optimizer.param_groups if group["params"]})
    assert scheduler is None and rates[0] == pytest.approx(1e-4) and rates[-1] == pytest.approx(1.6e-3)
    with pytest.raises(UsageError, match="works with LoRA-type tuners"):
        create_lorap_optimizer(ns(lorap_lr_ratio=16.0, learning_rate=1e-4), tiny_qwen())


def test_adalora_callback_sets_total_step_and_allocates():
    from peft import AdaLoraConfig, get_peft_model

    from swiftk_peft.tuners import adalora_callback

    model = get_peft_model(
        tiny_qwen(),
        AdaLoraConfig(init_r=4, target_r=2, tinit=1, tfinal=1, deltaT=1, total_step=10**9, target_modules=["q_proj"]),
    )
    callback = adalora_callback()
    state = types.SimpleNamespace(max_steps=6, global_step=0)
    callback.on_train_begin(None, state, None, model=model)
    assert model.peft_config["default"].total_step == 6
    model(input_ids=torch.randint(0, 64, (1, 8)), labels=torch.randint(0, 64, (1, 8))).loss.backward()
    callback.on_optimizer_step(None, state, None, model=model)  # uses the gradients
    state.max_steps = 2
    with pytest.raises(UsageError, match="leave no budgeting phase"):
        callback.on_train_begin(None, state, None, model=model)


# --- one-line errors of the tuners ------------------------------------------------------------------------


def _lora_args(**values):
    base = dict(
        target_modules=["all-linear"],
        target_regex=None,
        freeze_vit=True,
        modules_to_save=[],
        adapters=[],
        task_type=None,
        lora_alpha=8,
        lora_dropout=0.0,
    )
    base.update(values)
    return ns(**base)


def test_boft_and_fourierft_check_their_sizes():
    from swiftk_peft.tuners import prepare_boft, prepare_fourierft

    with pytest.raises(UsageError, match="set exactly one of them"):
        prepare_boft(tiny_qwen(), _lora_args(boft_block_size=4, boft_block_num=2, boft_dropout=0.0))
    with pytest.raises(UsageError, match="--boft_block_size 5: must divide the input size"):
        prepare_boft(tiny_qwen(), _lora_args(boft_block_size=5, boft_block_num=0, boft_dropout=0.0))
    with pytest.raises(UsageError, match="--fourier_n_frequency 5000: more than the"):
        prepare_fourierft(tiny_qwen(), _lora_args(fourier_n_frequency=5000, fourier_scaling=300.0))


def test_adapter_activation_and_adalora_ranks_are_checked():
    from swiftk_peft.adapter import prepare_adapter
    from swiftk_peft.tuners import prepare_adalora

    with pytest.raises(UsageError, match="--adapter_act swoosh: valid: gelu"):
        prepare_adapter(tiny_qwen(), _lora_args(adapter_length=8, adapter_act="swoosh"))
    with pytest.raises(UsageError, match="--adalora_init_r 2 must be >= --adalora_target_r 8"):
        prepare_adalora(
            tiny_qwen(),
            _lora_args(adalora_init_r=2, adalora_target_r=8, adalora_tinit=0, adalora_tfinal=0, max_steps=-1),
        )
