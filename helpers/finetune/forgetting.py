"""Forgetting and drift: how far fine-tuning moved a pretrained base, and what it forgot.

Used in lesson 04. Two measurements:

- **Weight drift** per layer: `norm(weights_after - weights_before) / norm(weights_before)`
  over a layer's trainable weights, against a snapshot taken before fine-tuning.
  A frozen layer has drift exactly 0.
- **Source accuracy retained**: the fine-tuned base with the original *source* head put back,
  scored on the source task. A base that kept its pretrained features still solves the task
  it was pretrained on; a base moved too far by a large learning rate does not.
"""

from __future__ import annotations

import keras
import numpy as np

from helpers.finetune import head_training

WeightSnapshot = dict[str, list[np.ndarray]]
_STATISTICS = (
    "moving_mean",
    "moving_variance",
)  # BatchNorm statistics: updated by forward passes, not by the optimizer


def snapshot(model: keras.Model) -> WeightSnapshot:
    """Copies the trainable-or-not weights of every layer that has weights.

    Weights are recorded whether or not the layer is trainable right now, so a snapshot
    taken before freezing still describes the layer after unfreezing.

    Args:
        model: a Keras model (or a base model such as MobileNetV2).

    Returns:
        A dict from layer name to numpy copies of the layer's learnable weights (kernels,
        biases, BatchNorm gamma and beta), frozen or not. BatchNorm moving statistics are
        not included: see `batchnorm_statistics`.

    Example:

    >>> layer = keras.layers.Dense(2, name="dense_example")
    >>> model = keras.Sequential([keras.Input((3,)), layer])
    >>> sorted(snapshot(model))
    ['dense_example']
    """
    return {
        layer.name: [np.array(weight.numpy()) for weight in _learnable_weights(layer)]
        for layer in _layers_with_weights(model)
    }


def relative_drift(before: WeightSnapshot, model: keras.Model) -> dict[str, float]:
    """Returns each layer's relative weight change since `before`.

    `drift = norm(concat(after - before)) / norm(concat(before))`, per layer.

    Args:
        before: the `snapshot` taken before training.
        model: the same model (or base) after training.

    Returns:
        A dict from layer name to drift (0.0 means unchanged), in layer order.

    Raises:
        ValueError: if `before` does not describe this model's layers.

    Example:

    >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, name="dense_drift")])
    >>> before = snapshot(model)
    >>> kernel, bias = model.layers[0].get_weights()
    >>> model.layers[0].set_weights([kernel * 1.5, bias])
    >>> round(relative_drift(before, model)["dense_drift"], 3)
    0.5
    """
    drift = {}
    for layer in _layers_with_weights(model):
        if layer.name not in before:
            raise ValueError(
                f"before has no weights for layer {layer.name!r}; take the snapshot from the same model. "
                f"Received: layers {sorted(before)[:5]}..."
            )
        old = np.concatenate([weight.ravel() for weight in before[layer.name]])
        new = np.concatenate([weight.numpy().ravel() for weight in _learnable_weights(layer)])
        if old.shape != new.shape:
            raise ValueError(
                f"before[{layer.name!r}] has {old.size} values but the layer has {new.size}."
            )
        scale = np.linalg.norm(old)
        drift[layer.name] = (
            float(np.linalg.norm(new - old) / scale) if scale > 0 else float(np.linalg.norm(new))
        )
    return drift


def overall_drift(before: WeightSnapshot, model: keras.Model) -> float:
    """Returns the relative change of all weights together: one number per fine-tune.

    Example:

    >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    >>> overall_drift(snapshot(model), model)
    0.0
    """
    old, new = [], []
    for layer in _layers_with_weights(model):
        old += [weight.ravel() for weight in before[layer.name]]
        new += [weight.numpy().ravel() for weight in _learnable_weights(layer)]
    old_values, new_values = np.concatenate(old), np.concatenate(new)
    return float(np.linalg.norm(new_values - old_values) / np.linalg.norm(old_values))


def batchnorm_statistics(model: keras.Model) -> dict[str, list[np.ndarray]]:
    """Copies every BatchNormalization layer's moving mean and moving variance.

    Example:

    >>> model = keras.Sequential([keras.Input((2,)), keras.layers.BatchNormalization(name="bn_example")])
    >>> [values.tolist() for values in batchnorm_statistics(model)["bn_example"]]
    [[0.0, 0.0], [1.0, 1.0]]
    """
    return {
        layer.name: [np.array(layer.moving_mean.numpy()), np.array(layer.moving_variance.numpy())]
        for layer in _all_layers(model)
        if isinstance(layer, keras.layers.BatchNormalization)
    }


def batchnorm_layers_moved(
    before: dict[str, list[np.ndarray]], after: dict[str, list[np.ndarray]]
) -> list[str]:
    """Names the BatchNormalization layers whose moving mean or variance changed at all.

    Args:
        before, after: two `batchnorm_statistics` of the same model.

    Returns:
        The names of the layers whose statistics differ, bit for bit, in layer order.

    Raises:
        ValueError: if the two describe different layers.

    Example:

    >>> model = keras.Sequential([keras.Input((2,)), keras.layers.BatchNormalization(name="bn_moved")])
    >>> before = batchnorm_statistics(model)
    >>> _ = model(np.ones((4, 2)), training=True)
    >>> batchnorm_layers_moved(before, batchnorm_statistics(model))
    ['bn_moved']
    """
    if before.keys() != after.keys():
        raise ValueError(
            f"before and after must describe the same BatchNormalization layers. "
            f"Received: {len(before)} and {len(after)} layers"
        )
    return [
        name
        for name in before
        if not all(
            np.array_equal(old, new) for old, new in zip(before[name], after[name], strict=True)
        )
    ]


def source_accuracy(
    base_model: keras.Model,
    source_kernel: np.ndarray,
    source_bias: np.ndarray,
    images: np.ndarray,
    labels: np.ndarray,
    batch_size: int = 64,
) -> float:
    """Scores a (fine-tuned) base on the source task with the original source head put back.

    Features are `GlobalAveragePooling2D(base_model(images, training=False))`; logits are
    `features @ source_kernel + source_bias`, exactly the source model's head at inference.

    Args:
        base_model: the base, e.g. the MobileNetV2 inside a fine-tuned model.
        source_kernel: array (features, source classes), the source head's Dense kernel.
        source_bias: array (source classes,), its bias.
        images: preprocessed images (n, height, width, 3), as the base expects them.
        labels: int array (n,) of source-task labels.
        batch_size: int, images per forward pass. Defaults to 64.

    Returns:
        The accuracy, a float in [0, 1].

    Raises:
        ValueError: if shapes disagree or labels are outside the source classes.
    """
    source_kernel, source_bias, labels = (
        np.asarray(source_kernel),
        np.asarray(source_bias),
        np.asarray(labels),
    )
    if source_kernel.ndim != 2 or source_bias.shape != (source_kernel.shape[1],):
        raise ValueError(
            "source_kernel must be (features, classes) and source_bias (classes,). "
            f"Received: source_kernel.shape={source_kernel.shape}, source_bias.shape={source_bias.shape}"
        )
    if len(images) != len(labels) or len(labels) == 0:
        raise ValueError(
            f"images and labels must be non-empty and equally long. Received: {len(images)} and {len(labels)}"
        )
    if labels.min() < 0 or labels.max() >= source_kernel.shape[1]:
        raise ValueError(
            f"labels must be in [0, {source_kernel.shape[1]}). Received: labels from {labels.min()} to {labels.max()}"
        )
    features = head_training.pooled_features(base_model, images, batch_size=batch_size)
    predictions = np.argmax(features @ source_kernel + source_bias, axis=1)
    return float(np.mean(predictions == labels))


def plot_drift(drift_by_run: dict[str, dict[str, float]], ax=None):
    """Plots per-layer drift (log scale) for several fine-tunes, e.g. one per learning rate.

    Args:
        drift_by_run: dict from a run's label (e.g. "1e-4") to `relative_drift` output.
        ax: matplotlib Axes to draw on; a new figure when None.

    Returns:
        The matplotlib Axes.
    """
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(8, 3.5))
    for label, drift in drift_by_run.items():
        values = np.array(list(drift.values()))
        ax.plot(
            np.arange(len(values)), np.where(values > 0, values, np.nan), marker=".", label=label
        )
    ax.set_yscale("log")
    ax.set_xlabel("layer (input → output)")
    ax.set_ylabel("relative weight change")
    ax.set_title("How far fine-tuning moved each layer")
    ax.legend(title="learning rate")
    return ax


def _all_layers(model: keras.Model) -> list[keras.layers.Layer]:
    """Flattens nested models (the base inside the full model) into their layers."""
    layers = []
    for layer in model.layers:
        layers += _all_layers(layer) if isinstance(layer, keras.Model) else [layer]
    return layers


def _layers_with_weights(model: keras.Model) -> list[keras.layers.Layer]:
    return [layer for layer in _all_layers(model) if _learnable_weights(layer)]


def _learnable_weights(layer: keras.layers.Layer) -> list:
    """Kernel, bias, gamma, beta...: the weights an optimizer may move (not BN moving statistics)."""
    return [weight for weight in layer.weights if weight.name not in _STATISTICS]
