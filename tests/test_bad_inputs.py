"""The README's table of bad inputs: every row is run here and must raise the message it shows.

`CASES` is the table: the call as a learner would type it and the message it gets (`…` stands for
numbers that depend on the machine). `test_the_readme_shows_this_table` keeps README.md equal to it;
regenerate the README's table with `python -m tests.test_bad_inputs` after editing `CASES`.
"""

import pathlib
import re

import keras
import numpy as np
import pytest
import tensorflow as tf

from helpers.finetune import (
    batchnorm_options,
    discriminative_rates,
    distribution,
    forgetting,
    head_training,
    l2_sp,
    layer_groups,
    lr_finder,
    lr_suggestions,
    mixed_precision,
    models,
    optimizers,
    rate_scaling,
    stages,
    two_phase,
)
from helpers.lessons import datasets, lr_clinic, pretrained, target_task

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"
BEGIN = "<!-- bad inputs: written by tests/test_bad_inputs.py -->"
END = "<!-- end of bad inputs -->"

CASES = [
    (
        "two_phase.fine_tune(model, base_model, (raw_images, labels))",
        "train_data images must be preprocessed floats in [-1, 1] (mobilenet_v2.preprocess_input), "
        "not raw pixels. Received: train_data images of dtype uint8",
    ),
    (
        "two_phase.fine_tune(model, base_model, batched(nan_images, labels))",
        "train_data images must be finite. Received: train_data images with 6144 NaN or inf values",
    ),
    (
        "two_phase.fine_tune(model, base_model, batched(images, [0.0, 1.5]))",
        "train_data labels must be whole class indices (ints). "
        "Received: train_data labels with values [1.5]",
    ),
    (
        "two_phase.fine_tune(model, base_model, batched(images, [0, 7]))",
        "train_data labels must be in [0, 4). Received: train_data labels with values [7]",
    ),
    (
        "two_phase.fine_tune(model, base_model, (images[:0], labels[:0]))",
        "train_data images must hold at least one image. "
        "Received: train_data images of shape (0, 32, 32, 3)",
    ),
    (
        'two_phase.fine_tune(model, base_model, (images, labels), callbacks="abc")',
        "callbacks must be None or a list of keras.callbacks.Callback. Received: callbacks='abc'",
    ),
    (
        "two_phase.fine_tune(model, base_model, shapes, head_learning_rate=1e3)",
        "Training stopped: the loss reached … at step …, "
        "more than 100x its reference level …. "
        "The learning rate is far too high for this model: lower it about 10x (or check the data "
        "for NaN). Received: head_learning_rate=1000.0",
    ),
    (
        "models.unfreeze(model)",
        "base_model must be the base, not a model that contains it: pass the base "
        "(model.get_layer('mobilenetv2_0.35_32')), so that its BatchNormalization layers stay "
        "frozen. Received: base_model=<Functional name=mobilenet_v2_classifier, built=True>",
    ),
    (
        "forgetting.overall_drift({}, model)",
        "before must be a snapshot of this model (forgetting.snapshot(model), taken before "
        "training). Received: before with layers [], but the model's are …",
    ),
    (
        "lr_suggestions.suggest(descending_rates, losses)",
        "learning_rates[1] must be a finite number > …. Received: learning_rates[1]=…",
    ),
    (
        "lr_suggestions.suggest(rates, losses, num_steps=-5)",
        "num_steps must be None or an int >= 50. Received: num_steps=-5",
    ),
    (
        "lr_clinic.run_clinic(nan_features, labels, 1e-3)",
        "features must be finite. Received: features with 1 NaN or inf values",
    ),
    (
        "head_training.train_head((features, [0, 0.5]), (features, labels))",
        "train labels must be whole class indices (ints). Received: train labels with values [0.5]",
    ),
    (
        "datasets.to_dataset(images, [0.5, 1.7])",
        "labels must be whole class indices (ints). Received: labels with values [0.5, 1.7]",
    ),
    (
        "lr_finder.find_learning_rate(compiled_model, batched(raw_images, labels))",
        "data images must be preprocessed floats in [-1, 1] (mobilenet_v2.preprocess_input), "
        "not raw pixels. Received: data images of dtype uint8",
    ),
    (
        "l2_sp.attach(base_model, strength=-1.0)",
        "strength must be a finite number >= 0. Received: strength=-1.0",
    ),
    (
        "layer_groups.unfreeze_top_groups(base_model, groups, 8)",
        "count must be an int from 0 to 7. Received: count=8",
    ),
    (
        "discriminative_rates.group_rates(list(groups), 1e-3, factor=0.5)",
        "factor must be a finite number >= 1. Received: factor=0.5",
    ),
    (
        'discriminative_rates.discriminative_optimizer(groups, {"head": 1e-3})',
        "learning_rates must have exactly the groups' names as keys, ['stem', 'blocks 1-2', "
        "'blocks 3-5', 'blocks 6-12', 'blocks 13-16', 'top', 'head']. Received: learning_rates "
        "missing ['stem', 'blocks 1-2', 'blocks 3-5', 'blocks 6-12', 'blocks 13-16', 'top']",
    ),
    (
        "batchnorm_options.reestimate_statistics(base_model, images[:1])",
        "images must hold at least 2 images: statistics need more than one. "
        "Received: images of shape (1, 32, 32, 3)",
    ),
    (
        "stages.gradual_unfreeze(model, base_model, groups, (images, labels), stages=0)",
        "stages must be None or an int from 1 to 7. Received: stages=0",
    ),
    (
        'rate_scaling.scaled_learning_rate(1e-3, 32, 128, rule="sqrt")',
        "rule must be one of ('linear', 'square root'). Received: rule='sqrt'. "
        "Did you mean 'square root'?",
    ),
    (
        "rate_scaling.best_rate([1e-4, 2e-4], [np.nan, np.inf])",
        "losses must hold at least one finite loss. Received: losses=[nan, inf]",
    ),
    (
        "distribution.global_batch_size(8, 0)",
        "replicas must be an int >= 1. Received: replicas=0",
    ),
    (
        'mixed_precision.vanished_updates(weights, 1e-5, dtype="float8")',
        "dtype must be one of ('float16', 'bfloat16', 'float32'). Received: dtype='float8'. "
        "Did you mean 'float32'?",
    ),
    (
        'optimizers.make_optimizer("adamw", 1e-3)',
        "name must be one of ('adam', 'sgd', 'rmsprop'). Received: name='adamw'. "
        "Did you mean 'adam'?",
    ),
]


def batched(images, labels):
    return tf.data.Dataset.from_tensor_slices((images, labels)).batch(2)


@pytest.fixture(scope="module")
def shapes():
    """64 offline target images: a rate of 1e3 takes their loss to ~1e4 at the second step."""
    return target_task.prepare_data(16, test_count=4, source_count=6, image_size=32).train


@pytest.fixture
def namespace(shapes):
    """A fresh model for each call, so that no case depends on what an earlier one did to it."""
    # The bundled base: its features are large enough for a rate of 1e3 to blow the loss up.
    model, base_model = pretrained.build_mobilenet_v2(4, image_size=32)
    compiled_model, _ = pretrained.build_mobilenet_v2(4, image_size=32)
    compiled_model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(True))
    images = np.random.default_rng(0).uniform(-1, 1, (2, 32, 32, 3)).astype("float32")
    features = np.random.default_rng(1).normal(size=(2, 8)).astype("float32")
    nan_features = features.copy()
    nan_features[0, 0] = np.nan
    rates = lr_suggestions.exponential_rates(1e-7, 10.0, 50)
    modules = {
        "batchnorm_options": batchnorm_options,
        "datasets": datasets,
        "discriminative_rates": discriminative_rates,
        "distribution": distribution,
        "forgetting": forgetting,
        "head_training": head_training,
        "l2_sp": l2_sp,
        "layer_groups": layer_groups,
        "lr_clinic": lr_clinic,
        "lr_finder": lr_finder,
        "lr_suggestions": lr_suggestions,
        "mixed_precision": mixed_precision,
        "models": models,
        "optimizers": optimizers,
        "rate_scaling": rate_scaling,
        "stages": stages,
        "two_phase": two_phase,
    }
    return {
        **modules,
        "batched": batched,
        "model": model,
        "base_model": base_model,
        "groups": layer_groups.mobilenet_v2_groups(model, base_model),
        "compiled_model": compiled_model,
        "shapes": shapes,
        "images": images,
        "weights": np.full(3, 0.5, "float32"),
        "np": np,
        "raw_images": np.full((2, 32, 32, 3), 255, "uint8"),
        "nan_images": np.full((2, 32, 32, 3), np.nan, "float32"),
        "labels": np.array([0, 1]),
        "features": features,
        "nan_features": nan_features,
        "rates": rates,
        "descending_rates": rates[::-1],
        "losses": np.linspace(2.0, 1.0, 50),
    }


def pattern(message: str) -> str:
    return "^" + ".*".join(re.escape(part) for part in message.split("…")) + "$"


@pytest.mark.parametrize("call, message", CASES, ids=[call for call, _ in CASES])
def test_each_bad_input_gets_its_message(namespace, call, message):
    with pytest.raises(ValueError) as error:
        eval(call, namespace)  # the call exactly as the README shows it
    assert re.match(pattern(message), str(error.value), flags=re.DOTALL), str(error.value)


def table() -> str:
    rows = ["| call | message |", "| --- | --- |"]
    rows += [f"| `{call}` | {message} |" for call, message in CASES]
    return "\n".join(rows)


def readme_with_table(readme: str) -> str:
    before = readme.split(BEGIN)[0]
    after = readme.split(END)[1]
    return f"{before}{BEGIN}\n{table()}\n{END}{after}"


def test_the_readme_shows_this_table():
    readme = README.read_text()
    assert BEGIN in readme and END in readme
    assert readme_with_table(readme) == readme, "run: python -m tests.test_bad_inputs"


if __name__ == "__main__":
    README.write_text(readme_with_table(README.read_text()))
