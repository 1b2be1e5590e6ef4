"""Why a logits head needs `from_logits=True`: the wrong loss and the right one (lesson 02).

A `Dense(num_classes)` layer without softmax emits logits. Compiled with the string
`"sparse_categorical_crossentropy"` (`from_logits=False`), Keras treats those logits as
probabilities: it clips them into `[1e-7, 1 - 1e-7]`, renormalises them and reports a different,
wrong loss, whose gradient is zero for every logit outside that range. `compare` puts the wrong
value, the right one and a numpy reference side by side; `train_with_each_loss` trains both ways.
"""

from __future__ import annotations

from typing import NamedTuple

import keras
import numpy as np

from helpers.finetune import validation


class LossComparison(NamedTuple):
    """What `compare` returns: three mean losses for the same logits and labels."""

    without_from_logits: float  # what Keras reports with from_logits=False: wrong for logits
    with_from_logits: float  # what Keras reports with from_logits=True: right
    reference: float  # numpy: mean of -log_softmax(logits)[label]


class TrainingOutcome(NamedTuple):
    """What `train_with_each_loss` gives for each loss: true cross-entropy and accuracy after it."""

    cross_entropy: float
    accuracy: float


def check_logits_and_labels(
    logits: np.ndarray, labels: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Returns `logits` as float32 `(samples, num_classes)` and `labels` as int32, or raises.

    On a CPU, TensorFlow rejects a label outside `[0, num_classes)` with a long
    `InvalidArgumentError` raised deep in its kernel; this check names the labels and
    `num_classes` first.

    Args:
        logits: array-like of shape `(samples, num_classes)`, finite.
        labels: array-like of class indices of shape `(samples,)`, each in `[0, num_classes)`;
            whole floats such as `2.0` count as indices.

    Returns:
        A tuple `(logits, labels)` of numpy arrays.

    Raises:
        ValueError: for mismatched shapes, non-finite logits, non-integral or out-of-range labels.

    Example:

    >>> check_logits_and_labels([[0.0, 1.0]], [2])
    Traceback (most recent call last):
    ...
    ValueError: labels must be in [0, 2). Received: labels with values [2]
    """
    logits_array = validation.check_array("logits", logits, ("samples", "num_classes"))
    samples, num_classes = logits_array.shape
    labels_array = validation.check_labels("labels", labels, num_classes, count=samples)
    return logits_array.astype("float32"), labels_array


def reference_cross_entropy(logits: np.ndarray, labels: np.ndarray) -> float:
    """Returns the mean cross-entropy of `softmax(logits)`, in numpy with a stable log-softmax.

    Args:
        logits: array-like of shape `(samples, num_classes)`.
        labels: array-like of ints of shape `(samples,)`.

    Returns:
        float, `mean(-log_softmax(logits)[label])`.

    Raises:
        ValueError: as `check_logits_and_labels`.

    Example:

    >>> round(reference_cross_entropy([[0.0, 0.0]], [1]), 4)  # two equal logits: -log(1/2)
    0.6931
    """
    logits_array, labels_array = check_logits_and_labels(logits, labels)
    shifted = logits_array.astype("float64") - logits_array.max(axis=1, keepdims=True)
    log_softmax = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return float(-np.mean(log_softmax[np.arange(len(labels_array)), labels_array]))


def compare(logits: np.ndarray, labels: np.ndarray) -> LossComparison:
    """Returns Keras's loss for logits without and with `from_logits=True`, and the reference.

    Args:
        logits: array-like of shape `(samples, num_classes)`, the raw outputs of a `Dense` head.
        labels: array-like of ints of shape `(samples,)`.

    Returns:
        A `LossComparison(without_from_logits, with_from_logits, reference)` of floats.

    Raises:
        ValueError: as `check_logits_and_labels`.

    Example:

    >>> losses = compare([[2.0, -1.0, 0.5]], [0])
    >>> [round(value, 4) for value in losses]
    [0.4055, 0.2413, 0.2413]
    """
    logits_array, labels_array = check_logits_and_labels(logits, labels)
    values = []
    for from_logits in (False, True):
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=from_logits)
        values.append(float(loss(labels_array, logits_array)))
    return LossComparison(*values, reference_cross_entropy(logits_array, labels_array))


def train_with_each_loss(seed: int = 0, steps: int = 40) -> dict[str, TrainingOutcome]:
    """Trains the same logits head twice, with the wrong and the right loss, on tiny separable data.

    Three Gaussian blobs in 4-D, 48 samples, a `Dense(3)` head, Adam at 0.05, full-batch steps.

    Args:
        seed: int, seeds the data and the initial weights. Defaults to 0.
        steps: int, full-batch training steps. Defaults to 40.

    Returns:
        A dict `{"from_logits=False": outcome, "from_logits=True": outcome}` of `TrainingOutcome`s,
        each measured with the true cross-entropy (`reference_cross_entropy`) after training.

    Raises:
        ValueError: if `seed` is negative or `steps` is not a positive int.

    Example:

    >>> outcomes = train_with_each_loss(seed=0, steps=5)
    >>> sorted(outcomes)
    ['from_logits=False', 'from_logits=True']
    """
    seed = validation.check_int("seed", seed, minimum=0)
    steps = validation.check_int("steps", steps, minimum=1)
    generator = np.random.default_rng(seed)
    centers = generator.normal(0.0, 3.0, size=(3, 4))  # three classes, well apart
    labels = generator.integers(0, 3, size=48)
    features = (centers[labels] + generator.normal(0.0, 1.0, size=(48, 4))).astype("float32")
    outcomes = {}
    for from_logits in (False, True):
        keras.utils.set_random_seed(seed)
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=from_logits)
        model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.05), loss=loss)
        # One epoch of `steps` full batches.
        repeated_features = np.tile(features, (steps, 1))
        repeated_labels = np.tile(labels, steps)
        model.fit(
            repeated_features,
            repeated_labels,
            batch_size=len(labels),
            epochs=1,
            shuffle=False,
            verbose=0,
        )
        logits = keras.ops.convert_to_numpy(model(features))
        accuracy = float(np.mean(logits.argmax(axis=1) == labels))
        outcomes[f"from_logits={from_logits}"] = TrainingOutcome(
            reference_cross_entropy(logits, labels), accuracy
        )
    return outcomes
