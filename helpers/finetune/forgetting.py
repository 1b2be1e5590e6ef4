"""Weight drift and source accuracy: how far a base moves, and what it forgets (lessons 03-04).

Four measurements:

- **Weight drift** per layer: `norm(weights_after - weights_before) / norm(weights_before)` over a
  layer's trainable weights, against a snapshot taken before fine-tuning. A frozen layer has drift
  exactly 0.
- **Update/weight ratio** per layer: the same ratio for a single optimizer step
  (`UpdateRatioRecorder`). A common rule of thumb (Stanford's CS231n notes) puts a healthy ratio
  near 1e-3: far below, the layer barely learns; far above, it is being overwritten.
- **Gradient into the base** (`base_gradient_norm`): how hard the loss pulls on the base's
  weights. A fresh, untrained head pulls differently from a trained one; lesson 04 measures it.
- **Source accuracy retained**: the fine-tuned base with the original *source* head put back,
  scored on the source task. A base that kept its pretrained features still solves the task it was
  pretrained on; a base moved too far by a large learning rate does not.

Lesson 03 uses the snapshot and BatchNormalization statistics to show that a frozen base does not
move.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import keras
import numpy as np
import tensorflow as tf

from helpers.finetune import head_training, validation

if TYPE_CHECKING:
    from matplotlib.axes import Axes

WeightSnapshot = dict[str, list[np.ndarray]]
# BatchNorm statistics: updated by forward passes, not by the optimizer.
_STATISTICS = ("moving_mean", "moving_variance")
SNAPSHOT_WANTED = "a snapshot of this model (forgetting.snapshot(model), taken before training)"
# CS231n's rule of thumb for the update/weight ratio of one step (lesson 04 draws it).
HEALTHY_UPDATE_RATIO = 1e-3


def snapshot(model: keras.Model) -> WeightSnapshot:
    """Copies the learnable weights of every layer that has weights, frozen or not.

    Weights are recorded whether or not the layer is trainable right now, so a snapshot taken
    before freezing still describes the layer after unfreezing.

    Args:
        model: a Keras model (or a base model such as MobileNetV2).

    Returns:
        A dict from layer name to numpy copies of the layer's learnable weights (kernels, biases,
        BatchNorm gamma and beta), frozen or not. BatchNorm moving statistics are not included:
        see `batchnorm_statistics`.

    Raises:
        ValueError: if `model` is not a Keras model.

    Example:

    >>> layer = keras.layers.Dense(2, name="dense_example")
    >>> model = keras.Sequential([keras.Input((3,)), layer])
    >>> sorted(snapshot(model))
    ['dense_example']
    """
    validation.check_instance("model", model, keras.Model, "a keras.Model")
    return {layer.name: _current_values(layer) for layer in _layers_with_weights(model)}


def relative_drift(before: WeightSnapshot, model: keras.Model) -> dict[str, float]:
    """Returns each layer's relative weight change since `before`.

    `drift = norm(concat(after - before)) / norm(concat(before))`, per layer (a layer whose weights
    were all 0 gets `norm(after)`).

    Args:
        before: the `snapshot` of this model, taken before training.
        model: the same model (or base) after training.

    Returns:
        A dict from layer name to drift (0.0 means unchanged), in layer order.

    Raises:
        ValueError: if `before` is not a snapshot of this model's layers and weight shapes.

    Example:

    >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, name="dense_drift")])
    >>> before = snapshot(model)
    >>> kernel, bias = model.layers[0].get_weights()
    >>> model.layers[0].set_weights([kernel * 1.5, bias])
    >>> round(relative_drift(before, model)["dense_drift"], 3)
    0.5
    """
    check_snapshot("before", before, model)
    drift = {}
    for layer in _layers_with_weights(model):
        old = _flat(before[layer.name])
        new = _flat(_current_values(layer))
        drift[layer.name] = _relative_change(old, new)
    return drift


def overall_drift(before: WeightSnapshot, model: keras.Model) -> float:
    """Returns the relative change of all weights together: one number per fine-tune.

    Args:
        before: the `snapshot` of this model, taken before training.
        model: the same model (or base) after training.

    Returns:
        `norm(all weights after - all weights before) / norm(all weights before)`.

    Raises:
        ValueError: if `before` is not a snapshot of this model's layers and weight shapes.

    Example:

    >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    >>> overall_drift(snapshot(model), model)
    0.0
    >>> overall_drift({}, model)
    Traceback (most recent call last):
    ...
    ValueError: before must be a snapshot of this model (forgetting.snapshot(model), taken before
    training). Received: before with layers [], but the model's are ['dense...']
    """
    check_snapshot("before", before, model)
    layers = _layers_with_weights(model)
    old = np.concatenate([_flat(before[layer.name]) for layer in layers])
    new = np.concatenate([_flat(_current_values(layer)) for layer in layers])
    return _relative_change(old, new)


def check_snapshot(name: str, before: object, model: keras.Model) -> WeightSnapshot:
    """Returns `before`, or raises unless it is a `snapshot` of `model`: same layers, same shapes.

    Args:
        name: str, the argument's name, used in the message.
        before: the value received as a snapshot.
        model: keras.Model, the model it must describe.

    Returns:
        The snapshot, unchanged.

    Raises:
        ValueError: naming `name` and saying which layers or shapes differ.

    Example:

    >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, name="dense_a")])
    >>> other = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, name="dense_b")])
    >>> check_snapshot("before", snapshot(other), model)
    Traceback (most recent call last):
    ...
    ValueError: before must be a snapshot of this model (forgetting.snapshot(model), taken before
    training). Received: before with layers ['dense_b'], but the model's are ['dense_a']
    """
    validation.check_instance("model", model, keras.Model, "a keras.Model")
    validation.check_instance(name, before, dict, SNAPSHOT_WANTED)
    expected = {
        layer.name: _shapes(_learnable_weights(layer)) for layer in _layers_with_weights(model)
    }
    if sorted(before) != sorted(expected):
        raise ValueError(
            f"{name} must be {SNAPSHOT_WANTED}. Received: {name} with layers "
            f"{_names(before)}, but the model's are {_names(expected)}"
        )
    for layer_name, shapes in expected.items():
        received_shapes = _shapes(before[layer_name])
        if received_shapes != shapes:
            raise ValueError(
                f"{name} must be {SNAPSHOT_WANTED}. Received: {name}[{layer_name!r}] with weight "
                f"shapes {received_shapes}, but the layer's are {shapes}"
            )
    return before


def batchnorm_statistics(model: keras.Model) -> dict[str, list[np.ndarray]]:
    """Copies every BatchNormalization layer's moving mean and moving variance.

    Args:
        model: a Keras model; nested models (the base inside the full model) are searched too.

    Returns:
        A dict from layer name to `[moving_mean, moving_variance]`, numpy copies.

    Raises:
        ValueError: if `model` is not a Keras model.

    Example:

    >>> layers = [keras.Input((2,)), keras.layers.BatchNormalization(name="bn_example")]
    >>> model = keras.Sequential(layers)
    >>> [values.tolist() for values in batchnorm_statistics(model)["bn_example"]]
    [[0.0, 0.0], [1.0, 1.0]]
    """
    validation.check_instance("model", model, keras.Model, "a keras.Model")
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
        ValueError: if either is not a dict, or the two describe different layers.

    Example:

    >>> layers = [keras.Input((2,)), keras.layers.BatchNormalization(name="bn_moved")]
    >>> model = keras.Sequential(layers)
    >>> before = batchnorm_statistics(model)
    >>> _ = model(np.ones((4, 2)), training=True)
    >>> batchnorm_layers_moved(before, batchnorm_statistics(model))
    ['bn_moved']
    """
    wanted = "the dict batchnorm_statistics returns"
    validation.check_instance("before", before, dict, wanted)
    validation.check_instance("after", after, dict, wanted)
    if before.keys() != after.keys():
        raise ValueError(
            "before and after must describe the same BatchNormalization layers. "
            f"Received: before with layers {_names(before)}, after with layers {_names(after)}"
        )
    return [name for name in before if not _all_equal(before[name], after[name])]


def source_accuracy(
    base_model: keras.Model,
    source_kernel: np.ndarray,
    source_bias: np.ndarray,
    images: np.ndarray,
    labels: np.ndarray,
    batch_size: int = 64,
) -> float:
    """Scores a (fine-tuned) base on the source task with the original source head put back.

    Features are `head_training.pooled_features(base_model, images)`; logits are
    `features @ source_kernel + source_bias`, exactly the source model's head at inference.

    Args:
        base_model: the base, e.g. the MobileNetV2 inside a fine-tuned model.
        source_kernel: array `(num_features, source classes)`, the source head's Dense kernel;
            `num_features` is the base's output channels.
        source_bias: array `(source classes,)`, its bias.
        images: preprocessed images `(n, height, width, 3)` in [-1, 1], as the base expects them.
        labels: int array `(n,)` of source-task labels.
        batch_size: int >= 1, images per forward pass. Defaults to 64.

    Returns:
        The accuracy, a float in [0, 1].

    Raises:
        ValueError: naming the argument, if shapes disagree, the images are not preprocessed or
            a label lies outside the source classes.

    Example:

    >>> base_model = keras.Sequential([keras.Input((4, 4, 3)), keras.layers.Identity()])
    >>> images = np.stack([np.full((4, 4, 3), 0.5), np.full((4, 4, 3), -0.5)])
    >>> kernel, bias = np.array([[1.0, -1.0]] * 3), np.zeros(2)
    >>> source_accuracy(base_model, kernel, bias, images, np.array([0, 1]))
    1.0
    """
    validation.check_instance("base_model", base_model, keras.Model, "a keras.Model")
    num_features = base_model.output_shape[-1]
    kernel = validation.check_array("source_kernel", source_kernel, (num_features, "classes"))
    num_classes = kernel.shape[1]
    bias = validation.check_array("source_bias", source_bias, (num_classes,))
    images = validation.check_images("images", images, image_shape=base_model.input_shape[1:])
    labels = validation.check_labels("labels", labels, num_classes, count=len(images))
    features = head_training.pooled_features(base_model, images, batch_size=batch_size)
    predictions = np.argmax(features @ kernel + bias, axis=1)
    return float(np.mean(predictions == labels))


class UpdateRatioRecorder(keras.callbacks.Callback):
    """Records each layer's update/weight ratio, `norm(step's change) / norm(weights)`, per step.

    It is `relative_drift` over one optimizer step: a snapshot before the step, the drift after.
    Pass it to `fit` (or `two_phase.fine_tune`'s `callbacks`); it records the first `steps`
    steps and then stops copying weights. Adam moves every weight with a gradient by about its
    learning rate on each early step, whatever the gradient's size, so a layer's ratio is close
    to `learning_rate / rms(weights)`; SGD's ratio is `learning_rate * norm(gradient) /
    norm(weights)`. CS231n's rule of thumb wants about `HEALTHY_UPDATE_RATIO` (1e-3). Lesson 04
    records it at each phase-2 rate.

    Args:
        model: keras.Model, the model (or base) whose layers to watch; frozen layers record 0.
        steps: int >= 1, how many of the first training steps to record. Defaults to 4.

    Raises:
        ValueError: if `model` is not a Keras model or `steps` is not an int >= 1.

    Example:

    >>> layer = keras.layers.Dense(1, use_bias=False, kernel_initializer="ones", name="dense")
    >>> model = keras.Sequential([keras.Input((2,)), layer])
    >>> model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.1), loss="mse")
    >>> recorder = UpdateRatioRecorder(model, steps=1)
    >>> # loss = w0**2, gradient (2, 0): the step moves w0 by 0.1 * 2; norm(w) = sqrt(2).
    >>> _ = model.fit(np.array([[1.0, 0.0]]), np.zeros((1, 1)), callbacks=[recorder], verbose=0)
    >>> round(recorder.mean_ratios()["dense"], 4), round(0.2 / 2**0.5, 4)
    (0.1414, 0.1414)
    """

    def __init__(self, model: keras.Model, steps: int = 4) -> None:
        super().__init__()
        self.watched_model = validation.check_instance("model", model, keras.Model, "a keras.Model")
        self.steps = validation.check_int("steps", steps, minimum=1)
        # One dict per recorded step: layer name -> update/weight ratio.
        self.ratios: list[dict[str, float]] = []
        self._before: WeightSnapshot | None = None

    def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        if len(self.ratios) < self.steps:
            self._before = snapshot(self.watched_model)

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        if self._before is not None:
            self.ratios.append(relative_drift(self._before, self.watched_model))
            self._before = None

    def mean_ratios(self) -> dict[str, float]:
        """Returns each layer's ratio averaged over the recorded steps (empty before any step)."""
        if not self.ratios:
            return {}
        return {
            name: float(np.mean([step[name] for step in self.ratios])) for name in self.ratios[0]
        }


def base_gradient_norm(
    model: keras.Model,
    base_model: keras.Model,
    images: np.ndarray,
    labels: np.ndarray,
    batch_size: int = 64,
) -> float:
    """Returns the norm of the loss's gradient with respect to the base's weights.

    The loss is the mean sparse cross-entropy of `model`'s logits over all `images`, in inference
    mode (no dropout, BatchNormalization on its moving statistics), as phase 2 starts from. The
    weights are those phase 2 trains: every learnable weight of `base_model` outside
    BatchNormalization, frozen or not right now. Lesson 04 compares a fresh head with a trained
    one: the gradient a head sends into the base when phase 2 begins.

    Args:
        model: keras.Model emitting logits, that applies `base_model`.
        base_model: keras.Model, the base inside `model`.
        images: preprocessed images `(n, height, width, 3)` in [-1, 1], as `model` expects them.
        labels: int array `(n,)` of class indices.
        batch_size: int >= 1, images per forward pass. Defaults to 64.

    Returns:
        The gradient's norm over all those weights together, a float >= 0.

    Raises:
        ValueError: naming the argument, for a bad model, images, labels or batch size.

    Example:

    >>> inputs = keras.Input((2, 2, 3))
    >>> conv = keras.layers.Conv2D(1, 2, use_bias=False, kernel_initializer="zeros", name="c")
    >>> base_model = keras.Model(inputs, conv(inputs))
    >>> features = keras.layers.Flatten()(base_model(inputs))
    >>> head = keras.layers.Dense(2, kernel_initializer="zeros", name="logits")
    >>> model = keras.Model(inputs, head(features))
    >>> # All logits 0: the loss's gradient with respect to the base is 0.
    >>> base_gradient_norm(model, base_model, np.ones((2, 2, 2, 3)), np.array([0, 1]))
    0.0
    """
    validation.check_instance("model", model, keras.Model, "a keras.Model")
    validation.check_instance("base_model", base_model, keras.Model, "a keras.Model")
    images = validation.check_images("images", images, image_shape=model.input_shape[1:])
    num_classes = model.output_shape[-1]
    labels = validation.check_labels("labels", labels, num_classes, count=len(images))
    batch_size = validation.check_int("batch_size", batch_size, minimum=1)
    variables = [
        weight.value
        for layer in _layers_with_weights(base_model)
        if not isinstance(layer, keras.layers.BatchNormalization)
        for weight in _learnable_weights(layer)
    ]
    loss_function = keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction="sum")
    total = [np.zeros(variable.shape, "float64") for variable in variables]
    for start in range(0, len(images), batch_size):
        batch = slice(start, start + batch_size)
        with tf.GradientTape(watch_accessed_variables=False) as tape:
            tape.watch(variables)
            loss = loss_function(labels[batch], model(images[batch], training=False))
        gradients = tape.gradient(loss, variables, unconnected_gradients="zero")
        pairs = zip(total, gradients, strict=True)
        total = [so_far + np.asarray(gradient, "float64") for so_far, gradient in pairs]
    flat = np.concatenate([np.ravel(gradient) for gradient in total]) / len(images)
    return float(np.linalg.norm(flat))


def plot_drift(drift_by_run: dict[str, dict[str, float]], ax: Axes | None = None) -> Axes:
    """Plots per-layer drift (log scale) for several fine-tunes, e.g. one per learning rate.

    Args:
        drift_by_run: dict from a run's label (e.g. "1e-4") to `relative_drift` output.
        ax: matplotlib Axes to draw on; a new figure when None. Defaults to `None`.

    Returns:
        The matplotlib Axes.

    Raises:
        ValueError: if `drift_by_run` is not a dict.

    Example:

    >>> from matplotlib.figure import Figure  # a figure of its own, outside pyplot
    >>> runs = {"1e-4": {"a": 0.1, "b": 0.0}, "1e-2": {"a": 0.5, "b": 0.2}}
    >>> len(plot_drift(runs, ax=Figure().add_subplot()).lines)
    2
    """
    validation.check_instance("drift_by_run", drift_by_run, dict, "a dict of relative_drift")
    ax = _plot_per_layer(drift_by_run, ax)
    ax.set_ylabel("relative weight change")
    ax.set_title("How far fine-tuning moved each layer")
    return ax


def plot_update_ratios(ratios_by_run: dict[str, dict[str, float]], ax: Axes | None = None) -> Axes:
    """Plots each layer's update/weight ratio (log scale) per run, with the 1e-3 rule of thumb.

    Args:
        ratios_by_run: dict from a run's label (e.g. "1e-4") to `UpdateRatioRecorder.mean_ratios`.
        ax: matplotlib Axes to draw on; a new figure when None. Defaults to `None`.

    Returns:
        The matplotlib Axes.

    Raises:
        ValueError: if `ratios_by_run` is not a dict.

    Example:

    >>> from matplotlib.figure import Figure  # a figure of its own, outside pyplot
    >>> runs = {"1e-4": {"a": 1e-3, "b": 2e-3}, "1e-2": {"a": 0.1, "b": 0.2}}
    >>> ax = plot_update_ratios(runs, ax=Figure().add_subplot())
    >>> len(ax.lines)  # one per run, and the rule of thumb
    3
    """
    wanted = "a dict of UpdateRatioRecorder.mean_ratios"
    validation.check_instance("ratios_by_run", ratios_by_run, dict, wanted)
    ax = _plot_per_layer(ratios_by_run, ax)
    ax.axhline(HEALTHY_UPDATE_RATIO, linestyle=":", color="gray")
    ax.set_ylabel("update / weight, one step")
    ax.set_title(f"Each layer's step against its size (dotted: {HEALTHY_UPDATE_RATIO:g})")
    return ax


def _plot_per_layer(values_by_run: dict[str, dict[str, float]], ax: Axes | None) -> Axes:
    """One line per run over the layers (input to output), on a log scale; zeros left out."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(8, 3.5))
    for label, values_by_layer in values_by_run.items():
        values = np.array(list(values_by_layer.values()), dtype=float)
        # A value of 0 (a frozen layer) has no place on a log scale.
        visible = np.where(values > 0, values, np.nan)
        ax.plot(np.arange(len(values)), visible, marker=".", label=label)
    ax.set_yscale("log")
    ax.set_xlabel("layer (input → output)")
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
    """Kernel, bias, gamma, beta...: the weights an optimizer may move (not BN statistics)."""
    return [weight for weight in layer.weights if weight.name not in _STATISTICS]


def _current_values(layer: keras.layers.Layer) -> list[np.ndarray]:
    """Numpy copies of the layer's learnable weights as they are now."""
    return [np.array(weight.numpy()) for weight in _learnable_weights(layer)]


def _flat(arrays: list[np.ndarray]) -> np.ndarray:
    """One vector of all the values of `arrays`."""
    return np.concatenate([np.ravel(array) for array in arrays])


def _shapes(weights: list) -> list[tuple[int, ...]]:
    return [tuple(np.shape(weight)) for weight in weights]


def _relative_change(old: np.ndarray, new: np.ndarray) -> float:
    """`norm(new - old) / norm(old)`; `norm(new)` when `old` is all zeros."""
    scale = np.linalg.norm(old)
    change = np.linalg.norm(new - old)
    return float(change / scale) if scale > 0 else float(change)


def _all_equal(old_arrays: list[np.ndarray], new_arrays: list[np.ndarray]) -> bool:
    pairs = zip(old_arrays, new_arrays, strict=True)
    return all(np.array_equal(old, new) for old, new in pairs)


def _names(layers_by_name: dict) -> list[str]:
    """The first five keys, for a message."""
    names = list(layers_by_name)
    return names[:5] + ["..."] if len(names) > 5 else names
