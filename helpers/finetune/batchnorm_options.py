"""BatchNormalization when fine-tuning: train it, or re-estimate its statistics (AdaBN) (lesson 07).

`models.unfreeze` keeps every BatchNormalization layer frozen, the course's default. Two other
choices:

- **Trainable BatchNormalization** (`set_batchnorm_trainable`), fastai's `train_bn=True` default:
  gamma and beta train with the base. In Keras 3 a trainable BatchNormalization layer also runs in
  training mode during `fit`, although the model calls the base with `training=False`: `fit`'s
  `training=True` replaces it (keras-team/keras#20285). So the layer normalises with each batch's
  statistics and moves its moving mean and variance towards those of the fine-tuning batches.
- **Re-estimated statistics** (`reestimate_statistics`), AdaBN (Li et al. 2016, "Revisiting
  batch normalization for practical domain adaptation"): keep every weight, and replace each
  layer's moving mean and variance by the statistics of its inputs on unlabelled images of the
  new task, so that inference normalises the new images as training normalised the old ones.

Keras's batch variance is the biased one, `mean((x - mean(x)) ** 2)` over the batch and spatial
axes (`tf.nn.moments`), and a training-mode call updates
`moving_mean = moving_mean * momentum + mean(batch) * (1 - momentum)` (the same for the variance).
"""

from __future__ import annotations

import keras
import numpy as np

from helpers.finetune import models, validation


def batchnorm_layers(base_model: keras.Model) -> list[keras.layers.BatchNormalization]:
    """Returns the base's BatchNormalization layers, input to output.

    Args:
        base_model: keras.Model, the base (e.g. from `models.build_mobilenet_v2`), not a model
            that contains it.

    Returns:
        A list of the `keras.layers.BatchNormalization` layers among `base_model.layers`.

    Raises:
        ValueError: if `base_model` is not a base (see `models.check_base_model`).

    Example:

    >>> _, base_model = models.build_mobilenet_v2(2, image_size=32)
    >>> layers = batchnorm_layers(base_model)
    >>> len(layers), layers[0].name
    (52, 'bn_Conv1')
    """
    models.check_base_model(base_model)
    return [
        layer for layer in base_model.layers if isinstance(layer, keras.layers.BatchNormalization)
    ]


def set_batchnorm_trainable(base_model: keras.Model, trainable: bool) -> None:
    """Makes the base's BatchNormalization layers trainable (or frozen again), all of them.

    Call it after `models.unfreeze(base_model)` to fine-tune the BatchNormalization layers with
    the rest of the base, as fastai's `train_bn=True` does: gamma and beta join the trainable
    weights, and during `fit` the layers run in training mode (batch statistics; the moving mean
    and variance move, with each layer's `momentum`, 0.99 in MobileNetV2), even though the model
    calls the base with `training=False` (keras-team/keras#20285). Like fastai, it also reaches
    the layers below `top_layers` that `unfreeze` left frozen. On a frozen base
    (`base_model.trainable = False`) gamma and beta stay out of the trainable weights, but the
    statistics still move during `fit`. Recompile the model afterwards so that `fit` sees the
    change. `trainable=False` restores `unfreeze`'s default.

    Args:
        base_model: keras.Model, the base, not a model that contains it.
        trainable: bool, whether the BatchNormalization layers train.

    Raises:
        ValueError: if `base_model` is not a base or `trainable` is not a bool.

    Example:

    >>> _, base_model = models.build_mobilenet_v2(2, image_size=32)
    >>> models.unfreeze(base_model)
    >>> len(base_model.trainable_weights)  # the 52 convolution kernels
    52
    >>> set_batchnorm_trainable(base_model, True)
    >>> len(base_model.trainable_weights)  # and gamma and beta of 52 BatchNormalization layers
    156
    """
    layers = batchnorm_layers(base_model)
    trainable = validation.check_bool("trainable", trainable)
    for layer in layers:
        layer.trainable = trainable


def reestimate_statistics(
    base_model: keras.Model, images: np.ndarray, batch_size: int | None = None
) -> None:
    """Replaces every BatchNormalization layer's moving mean and variance by those on `images`.

    AdaBN: without labels and without changing a weight, the base's inference-mode normalisation
    is fitted to new images (the target task's training images, or unlabelled images of a shifted
    domain). Each layer sees its inputs as normalised by the layers before it, re-estimated too.

    How: each BatchNormalization layer is made trainable for the call, with `momentum` 0, and the
    base runs once in training mode on all `images` (`base_model(images, training=True)`), so each
    moving mean and variance becomes exactly that batch's mean and (biased) variance; afterwards
    `base_model(images, training=False)` gives what the training-mode call gave.

    With `batch_size`, the images run in `len(images) // batch_size` batches of nearly equal size
    (`batch_size` to `2 * batch_size - 1` images; one batch if there are fewer), and a layer's
    `momentum` for a batch is `images_before / (images_before + images_in_batch)`. Each moving value
    is then the average of the batches' values weighted by their sizes: for the mean, the mean of
    the layer's inputs over all images (each batch normalised by the layers before with its own
    statistics); for the variance, the average within-batch variance, smaller than the variance
    over all images by the variance of the batch means. PyTorch's `torch.optim.swa_utils.update_bn`
    does the same with batches weighted equally.

    Every layer's `trainable` flag and `momentum` are restored afterwards, also after an error;
    kernels, gamma and beta are not changed. The base runs in training mode, so a base with Dropout
    layers (MobileNetV2 has none) would drop units while the statistics are gathered.

    Args:
        base_model: keras.Model, the base, not a model that contains it.
        images: float array `(n, height, width, 3)` with `n >= 2`, preprocessed as the base
            expects (to [-1, 1]) and of the base's input shape.
        batch_size: int >= 2 or None, the images per forward pass; `None` runs all `images` in
            one pass (exact statistics, memory for all activations). Defaults to `None`.

    Raises:
        ValueError: naming the argument, if `base_model` is not a base, `images` are not
            preprocessed images of the base's input shape or fewer than 2, or `batch_size` is not
            None or an int >= 2.

    Example:

    >>> _, base_model = models.build_mobilenet_v2(2, image_size=32)
    >>> images = np.random.default_rng(0).uniform(-1, 1, (8, 32, 32, 3)).astype("float32")
    >>> reestimate_statistics(base_model, images)
    >>> first_convolution = keras.Model(base_model.input, base_model.get_layer("Conv1").output)
    >>> features = first_convolution(images).numpy()
    >>> moving_mean = base_model.get_layer("bn_Conv1").moving_mean.numpy()
    >>> bool(np.allclose(moving_mean, features.mean(axis=(0, 1, 2)), atol=1e-5))
    True
    """
    layers = batchnorm_layers(base_model)
    images = validation.check_images("images", images, image_shape=base_model.input_shape[1:])
    if len(images) < 2:
        raise ValueError(
            "images must hold at least 2 images: statistics need more than one. "
            f"Received: images of shape {images.shape}"
        )
    batch_size = validation.check_optional_int("batch_size", batch_size, minimum=2)
    batch_count = 1 if batch_size is None else max(1, len(images) // batch_size)
    # Each batch holds `batch_size` to `2 * batch_size - 1` images (or all of them, if fewer): no
    # batch is left with one image, whose variance would be 0 where the feature map is 1x1.
    batches = np.array_split(images, batch_count)
    saved = [(layer.trainable, layer.momentum) for layer in layers]
    try:
        for layer in layers:
            layer.trainable = True
        images_before = 0
        for batch in batches:
            momentum = images_before / (images_before + len(batch))  # 0.0 for the first batch
            for layer in layers:
                layer.momentum = momentum
            base_model(batch, training=True)
            images_before += len(batch)
    finally:
        for layer, (trainable, momentum) in zip(layers, saved, strict=True):
            layer.trainable = trainable
            layer.momentum = momentum
