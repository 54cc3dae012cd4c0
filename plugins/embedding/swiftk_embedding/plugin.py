"""Entry point of swift-plugin-embedding: registrations (lazy references) and two small pipeline hooks."""

import swiftk
from swiftk.api import EngineSpec, TrainerSpec

TASKS = ("embedding", "reranker", "generative_reranker")


@swiftk.hookimpl
def register_trainers(register):
    for task in TASKS:
        register(
            task,
            TrainerSpec(
                trainer_cls="swiftk_embedding.trainer:EmbeddingTrainer",
                data_kind="embedding",
                prepare_args="swiftk_embedding.tasks:prepare_args",
                config_kwargs="swiftk_embedding.tasks:config_kwargs",
                encode="swiftk_embedding.data:make_encoder",
            ),
        )


@swiftk.hookimpl
def register_losses(register):
    register("infonce", "swiftk_embedding.losses:infonce")
    register("cosine_similarity", "swiftk_embedding.losses:cosine_similarity")
    register("contrastive", "swiftk_embedding.losses:contrastive")
    register("online_contrastive", "swiftk_embedding.losses:online_contrastive")
    register("reranker", "swiftk_embedding.losses:reranker")
    register("generative_reranker", "swiftk_embedding.losses:reranker")  # ms-swift: the same BCE on yes - no
    register("listwise_reranker", "swiftk_embedding.losses:listwise_reranker")
    register("listwise_generative_reranker", "swiftk_embedding.losses:listwise_reranker")


@swiftk.hookimpl
def register_infer_engines(register):
    for task in TASKS:  # what swift-plugin-infer's pt backend serves a checkpoint of this task type with
        register(task, EngineSpec(engine_cls="swiftk_embedding.engine:TaskEngine"))


@swiftk.hookimpl
def register_arguments(register):
    register("reranker_serving", "swiftk_embedding.arguments:RerankerServingArguments", commands=["infer", "deploy"])


@swiftk.hookimpl(tryfirst=True)
def load_model(args, model_info, load_weights):
    """A ``--task_type reranker`` model is a sequence classifier with one label (ms-swift turns a causal LM
    into one): loaded by whichever plugin loads classifiers."""
    if model_info.task_type != "reranker":
        return None
    import dataclasses

    as_classifier = dataclasses.replace(model_info, task_type="seq_cls", num_labels=1, problem_type="regression")
    return swiftk.get_host().hook.load_model(args=args, model_info=as_classifier, load_weights=load_weights)


@swiftk.hookimpl
def post_model_load(args, model, processor):
    """A reranker's score head reads the last real token of padded batches: it needs the pad id."""
    tokenizer = getattr(processor, "tokenizer", processor)
    if args.get("task_type") == "reranker" and getattr(model.config, "pad_token_id", None) is None and tokenizer:
        model.config.pad_token_id = tokenizer.pad_token_id
