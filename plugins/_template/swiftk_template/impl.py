"""Where the real work of a plugin lives, imported only when one of its names is used."""


def template_metric(args=None, tokenizer=None):
    """A metric factory (``--metric template_metric``): the mean length, in characters, of the answers
    generated during evaluation (``--predict_with_generate true``).

    The Trainer calls ``compute`` with one ``transformers.EvalPrediction``: ``predictions`` holds the
    generated token ids (padded with -100 or the pad id), ``label_ids`` the references' ids.
    """
    if tokenizer is None:
        raise ValueError("template_metric decodes the generated answers: it needs the tokenizer")

    def compute(eval_prediction):
        predictions = eval_prediction.predictions
        if isinstance(predictions, tuple):
            predictions = predictions[0]
        texts = [
            tokenizer.decode([int(t) for t in row if t >= 0 and t != tokenizer.pad_token_id], skip_special_tokens=True)
            for row in predictions
        ]
        return {"mean_length": sum(map(len, texts)) / max(len(texts), 1)}

    return compute
