"""Phase 2 on several replicas with `tf.distribute`: one function for one device, many, or workers.

A replica is one copy of the model that takes its share of each batch. Under a
`tf.distribute.Strategy` every replica computes the gradient of its share, the gradients are
averaged across replicas (an all-reduce) and every replica applies the same update, so the
replicas' weights stay identical. What the optimizer sees is the gradient of the *global* batch,

    global batch = per-replica batch x replicas,

so adding replicas at a fixed per-replica batch is a larger batch, and the learning rate moves
with it (`rate_scaling.scaled_learning_rate`). With the global batch held fixed, a strategy run
is the one-device run up to float rounding, which `tests/test_distribution.py` checks.

- `split_cpu(2)` makes 2 logical CPU devices out of one CPU
  (`tf.config.set_logical_device_configuration`), so `MirroredStrategy` has two devices to mirror
  on, here as on a machine with two GPUs. It must run before TensorFlow touches a device.
- `mirrored_strategy(count)` mirrors on `count` GPUs where there are as many, else on logical
  CPUs.
- `fine_tune_replicated` is the fine-tuning code itself: it builds the model inside the
  strategy's scope, unfreezes the base (BatchNorm stays frozen: `models.unfreeze`), and fits on
  batches of the global size. Under `tf.distribute.MultiWorkerMirroredStrategy` every worker
  process runs the same call on the same data; `tf.data` gives each worker its share of every
  batch (`AutoShardPolicy.DATA`). Keras 3's `fit` needs a small fix of that strategy's `reduce`
  to run under it with two or more workers: `multi_worker_strategy()` makes one with it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import keras
import numpy as np
import tensorflow as tf

from helpers.finetune import models, optimizers, validation

ModelBuilder = Callable[[], tuple[keras.Model, keras.Model]]


def split_cpu(count: int) -> list[str]:
    """Splits the CPU into `count` logical devices and returns their names.

    TensorFlow fixes its devices the first time it uses one, so call this first: in a notebook,
    before any cell builds a model or runs an op. Calling it again with the same count returns the
    same names.

    Args:
        count: int >= 1, the logical CPU devices wanted.

    Returns:
        The logical CPU devices' names, e.g. `["/device:CPU:0", "/device:CPU:1"]`.

    Raises:
        ValueError: if `count` is not an int >= 1.
        RuntimeError: if TensorFlow has already fixed its devices with another count; the message
            says to restart the kernel and run this first.

    Example (`tests/test_distribution.py` splits a fresh process's CPU in two; here TensorFlow
    has fixed its devices already, so only the same count is accepted):

    >>> split_cpu(len(logical_cpu_names())) == logical_cpu_names()
    True
    """
    count = validation.check_int("count", count, minimum=1)
    cpu = tf.config.list_physical_devices("CPU")[0]
    try:
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(count)]
        )
    except RuntimeError as error:
        names = logical_cpu_names()
        if len(names) == count:
            return names
        raise RuntimeError(
            f"split_cpu({count}) must run before TensorFlow uses a device; it already runs on "
            f"{len(names)} logical CPU device(s). Restart the kernel (or the process) and call "
            "split_cpu first."
        ) from error
    return logical_cpu_names()


def logical_cpu_names() -> list[str]:
    """The names of the logical CPU devices TensorFlow runs on (this fixes its devices).

    Example:

    >>> logical_cpu_names()[0]
    '/device:CPU:0'
    """
    return [device.name for device in tf.config.list_logical_devices("CPU")]


def mirrored_strategy(count: int = 2) -> tf.distribute.MirroredStrategy:
    """A `MirroredStrategy` over `count` devices: GPUs where there are as many, else logical CPUs.

    Args:
        count: int >= 1, the replicas. Defaults to 2.

    Returns:
        A `tf.distribute.MirroredStrategy` with `count` replicas.

    Raises:
        ValueError: if `count` is not an int >= 1, or there are fewer than `count` GPUs and fewer
            than `count` logical CPUs (the message says to call `split_cpu(count)` first).

    Example:

    >>> mirrored_strategy(1).num_replicas_in_sync
    1
    """
    count = validation.check_int("count", count, minimum=1)
    gpus = [device.name for device in tf.config.list_logical_devices("GPU")]
    cpus = logical_cpu_names()
    if len(gpus) >= count:
        devices = gpus[:count]
    elif len(cpus) >= count:
        devices = cpus[:count]
    else:
        raise ValueError(
            f"count must be at most the devices available. Received: count={count}, with "
            f"{len(gpus)} GPU(s) and {len(cpus)} logical CPU(s); call split_cpu({count}) first"
        )
    return tf.distribute.MirroredStrategy(devices)


class KerasMultiWorkerMirroredStrategy(tf.distribute.MultiWorkerMirroredStrategy):
    """A `MultiWorkerMirroredStrategy` whose `reduce` accepts what Keras 3's `fit` passes to it.

    With two or more workers, Keras 3.15's `model.fit` fails inside `strategy.reduce` twice
    (keras-team/keras#20585, tensorflow/tensorflow#72388): before the first step it reduces a
    whole batch `(images, labels)` in one call, where TensorFlow's strategy takes one tensor, and
    after each step it reduces every scalar result (loss, accuracy) with `axis=0`, which a scalar
    does not have. This `reduce` takes a nested value one tensor at a time and reduces a scalar
    across workers only. Training is untouched: the optimizer all-reduces the gradients itself,
    and Keras uses these reductions only to find the batch's shapes and to report the results.
    """

    def reduce(
        self, reduce_op: str | tf.distribute.ReduceOp, value: object, axis: int | None = None
    ) -> object:
        """`tf.distribute.Strategy.reduce`, for each tensor of a nested `value`."""
        return tf.nest.map_structure(
            functools.partial(self._reduce_tensor, reduce_op, axis=axis), value
        )

    def _reduce_tensor(
        self, reduce_op: str | tf.distribute.ReduceOp, value: object, axis: int | None
    ) -> tf.Tensor:
        rank = self.experimental_local_results(value)[0].shape.rank
        if rank == 0:
            axis = None  # a scalar has no batch axis to reduce along; reduce across workers
        return super().reduce(reduce_op, value, axis)


def multi_worker_strategy() -> KerasMultiWorkerMirroredStrategy:
    """The strategy of one worker of several: create it first, before any other TensorFlow op.

    It reads the worker's place in the cluster from the `TF_CONFIG` environment variable, starts
    the worker's server and waits for the others; without `TF_CONFIG` it is a cluster of one. It
    is a `KerasMultiWorkerMirroredStrategy`, so that Keras 3's `fit` runs under it.

    Returns:
        A `KerasMultiWorkerMirroredStrategy`.

    Example (`helpers/lessons/scaling_worker.py` creates one in each worker process; creating
    one here would start a server in this process):

    >>> issubclass(KerasMultiWorkerMirroredStrategy, tf.distribute.MultiWorkerMirroredStrategy)
    True
    """
    return KerasMultiWorkerMirroredStrategy()


def global_batch_size(per_replica_batch_size: int, replicas: int) -> int:
    """The batch the optimizer's step averages over: per-replica batch times replicas.

    Example:

    >>> global_batch_size(16, 2)
    32
    """
    per_replica_batch_size = validation.check_int(
        "per_replica_batch_size", per_replica_batch_size, minimum=1
    )
    replicas = validation.check_int("replicas", replicas, minimum=1)
    return per_replica_batch_size * replicas


def fine_tune_replicated(
    strategy: tf.distribute.Strategy,
    build_model: ModelBuilder,
    train_data: tuple[np.ndarray, np.ndarray],
    per_replica_batch_size: int,
    learning_rate: float,
    epochs: int = 1,
    optimizer: str = "sgd",
    gradient_accumulation_steps: int | None = None,
    seed: int = 0,
) -> keras.Model:
    """Phase 2 under `strategy`: the whole base unfrozen (BatchNorm frozen), global batches.

    The same call runs on one device (`tf.distribute.get_strategy()`, the default strategy), on
    several (`mirrored_strategy`) and in each worker of a `MultiWorkerMirroredStrategy`. Batches
    hold `per_replica_batch_size * strategy.num_replicas_in_sync` images, drawn in an order fixed
    by `seed` (a new order each epoch), so every worker sees the same global batches and takes
    its share of each.

    Args:
        strategy: a `tf.distribute.Strategy`.
        build_model: a callable returning a fresh `(model, base_model)` pair, as
            `models.build_mobilenet_v2` does; it is called inside the strategy's scope, so every
            variable is mirrored. Each call must build the same starting weights (seed it).
        train_data: a tuple `(images, labels)` of arrays.
        per_replica_batch_size: int >= 1, each replica's share of a batch.
        learning_rate: float > 0, phase 2's rate.
        epochs: int >= 1. Defaults to 1.
        optimizer: `"adam"`, `"sgd"` (momentum 0.9) or `"rmsprop"`. Defaults to `"sgd"`.
        gradient_accumulation_steps: int >= 2 or None: Keras averages the gradients of this many
            batches and updates once (`keras.optimizers.Optimizer`'s argument). Defaults to None.
        seed: int >= 0, the shuffling seed. Defaults to 0.

    Returns:
        The trained model (its variables mirrored under `strategy`).

    Raises:
        ValueError: naming the argument, for a bad one.

    Example:

    >>> def build():
    ...     keras.utils.set_random_seed(0)
    ...     return models.build_mobilenet_v2(2, image_size=32, dropout=0)
    >>> images, labels = np.zeros((4, 32, 32, 3), "float32"), np.array([0, 1, 0, 1])
    >>> strategy = tf.distribute.get_strategy()  # one device
    >>> model = fine_tune_replicated(strategy, build, (images, labels), 2, 1e-3)
    >>> int(model.optimizer.iterations.numpy())  # 4 images in batches of 2
    2
    """
    validation.check_instance(
        "strategy", strategy, tf.distribute.Strategy, "a tf.distribute.Strategy"
    )
    if not callable(build_model):
        raise ValueError(
            "build_model must be a callable returning (model, base_model). "
            f"Received: build_model={build_model!r}"
        )
    images, labels = validation.check_pair("train_data", train_data, "a tuple (images, labels)")
    images = validation.check_images("train_data images", images)
    per_replica_batch_size = validation.check_int(
        "per_replica_batch_size", per_replica_batch_size, minimum=1
    )
    learning_rate = validation.check_positive_number("learning_rate", learning_rate)
    epochs = validation.check_int("epochs", epochs, minimum=1)
    seed = validation.check_int("seed", seed, minimum=0)
    options = {}
    if gradient_accumulation_steps is not None:
        options["gradient_accumulation_steps"] = validation.check_int(
            "gradient_accumulation_steps", gradient_accumulation_steps, minimum=2
        )
    batch_size = global_batch_size(per_replica_batch_size, strategy.num_replicas_in_sync)
    with strategy.scope():
        model, base_model = build_model()
        models.unfreeze(base_model)
        model.compile(
            optimizer=optimizers.make_optimizer(optimizer, learning_rate, **options),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=["accuracy"],
        )
    labels = validation.check_labels(
        "train_data labels", labels, model.output_shape[-1], len(images)
    )
    generator = np.random.default_rng(seed)
    for epoch in range(epochs):
        batches = _batches(images, labels, generator.permutation(len(images)), batch_size)
        model.fit(batches, initial_epoch=epoch, epochs=epoch + 1, verbose=0, shuffle=False)
    return model


def _batches(
    images: np.ndarray, labels: np.ndarray, order: np.ndarray, batch_size: int
) -> tf.data.Dataset:
    """Global batches in the given order; each worker of a multi-worker run takes its share.

    The order is drawn with NumPy, not `Dataset.shuffle`: a distributed dataset is rebuilt per
    replica or worker, and its shuffle then draws another order than the one-device run's.
    """
    dataset = tf.data.Dataset.from_tensor_slices((images[order], labels[order]))
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.batch(batch_size).with_options(options)
