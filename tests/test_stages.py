"""Training in stages: a fresh optimizer per stage, and gradual unfreezing's trainable counts."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from helpers.finetune import forgetting, guards, layer_groups, models, stages


@pytest.fixture(scope="module")
def data():
    generator = np.random.default_rng(0)
    images = generator.uniform(-1, 1, (8, 32, 32, 3)).astype("float32")
    return images, np.array([0, 0, 0, 1, 1, 2, 3, 3])  # unbalanced: every weight has a gradient


@pytest.fixture(scope="module")
def unfrozen_in_three_stages(data):
    keras.utils.set_random_seed(0)
    model, base_model = models.build_mobilenet_v2(4, image_size=32)
    groups = layer_groups.mobilenet_v2_groups(model, base_model)
    optimizers_made = []

    def make_optimizer():
        optimizers_made.append(keras.optimizers.Adam(1e-3))
        return optimizers_made[-1]

    recorded = []

    def weights_now():
        return {
            layer.name: [weight.numpy() for weight in layer.weights]
            for layers in groups.values()
            for layer in layers
        }

    # Every layer's weights before and after each stage, to see which groups moved.
    snapshots = keras.callbacks.LambdaCallback(
        on_train_begin=lambda logs: recorded.append({"before": weights_now()}),
        on_train_end=lambda logs: recorded[-1].update(after=weights_now()),
    )

    statistics = forgetting.batchnorm_statistics(base_model)
    results = stages.gradual_unfreeze(
        model,
        base_model,
        groups,
        data,
        validation_data=data,
        stages=3,
        epochs_per_stage=2,
        make_optimizer=make_optimizer,
        callbacks=[snapshots],
        verbose=0,
    )
    return model, base_model, groups, results, optimizers_made, recorded, statistics


def test_each_stage_trains_one_more_group_from_the_top(unfrozen_in_three_stages):
    _, _, groups, results, *_ = unfrozen_in_three_stages
    counts = layer_groups.parameter_counts(groups)
    batch_norm_parameters = {
        name: sum(
            2 * layer.gamma.shape[0]
            for layer in layers
            if isinstance(layer, keras.layers.BatchNormalization)
        )
        for name, layers in groups.items()
    }
    assert [stage.trainable_groups for stage in results] == [
        ["head"],
        ["head", "top"],
        ["head", "top", "blocks 13-16"],
    ]
    for stage in results:
        expected = sum(
            counts[name] - batch_norm_parameters[name] for name in stage.trainable_groups
        )
        assert stage.trainable_parameters == expected
    assert results[0].trainable_parameters == 1280 * 4 + 4


def test_every_stage_gets_a_fresh_optimizer_and_counts_epochs_on(unfrozen_in_three_stages):
    model, _, _, results, optimizers_made, *_ = unfrozen_in_three_stages
    assert len({id(optimizer) for optimizer in optimizers_made}) == 3
    assert model.optimizer is optimizers_made[-1]
    # Each stage's optimizer made two epochs of two steps (8 images in batches of 32: one step).
    assert [int(optimizer.iterations.numpy()) for optimizer in optimizers_made] == [2, 2, 2]
    for stage in results:
        assert len(stage.history["loss"]) == 2 and len(stage.history["val_loss"]) == 2


def test_only_the_trainable_groups_move_and_batch_norm_statistics_never(unfrozen_in_three_stages):
    model, base_model, groups, results, _, recorded, statistics = unfrozen_in_three_stages
    for stage, weights in zip(results, recorded, strict=True):
        for name, layers in groups.items():
            moved = [
                layer.name
                for layer in layers
                if any(
                    not np.array_equal(old, new)
                    for old, new in zip(
                        weights["before"][layer.name], weights["after"][layer.name], strict=True
                    )
                )
            ]
            if name in stage.trainable_groups:
                # A random base can leave a layer without gradient (a dead ReLU6): most move.
                learnt = [
                    layer
                    for layer in layers
                    if not isinstance(layer, keras.layers.BatchNormalization)
                ]
                assert len(moved) >= len(learnt) / 2, (name, stage.trainable_groups)
            else:
                assert moved == [], (name, stage.trainable_groups)
            batch_norm = [
                layer.name for layer in layers if isinstance(layer, keras.layers.BatchNormalization)
            ]
            assert not set(moved) & set(batch_norm)
    now = forgetting.batchnorm_statistics(base_model)
    for name, arrays in statistics.items():
        for old, new in zip(arrays, now[name], strict=True):
            np.testing.assert_array_equal(old, new)


def test_fit_stage_refuses_an_optimizer_already_used(data):
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(2)])
    batches = tf.data.Dataset.from_tensor_slices((np.eye(2), [0, 1])).batch(2)
    optimizer = keras.optimizers.SGD(0.1)
    stages.fit_stage(model, optimizer, batches, None, 0, 1, verbose=0)
    with pytest.raises(ValueError, match="optimizer must be fresh"):
        stages.fit_stage(model, optimizer, batches, None, 1, 1, verbose=0)


def test_a_diverged_stage_raises_naming_the_optimizer():
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(2)])
    batches = tf.data.Dataset.from_tensor_slices((np.ones((16, 1)), [0, 1] * 8)).batch(1)
    with pytest.raises(
        guards.TrainingDivergedError, match=r"Received: optimizer=SGD\(learning_rate=1e\+06\)"
    ):
        stages.fit_stage(model, keras.optimizers.SGD(1e6), batches, None, 0, 3, verbose=0)


@pytest.mark.parametrize(
    "options, message",
    [
        ({"stages": 0}, "stages must be None or an int from 1 to 7"),
        ({"stages": 8}, "stages must be None or an int from 1 to 7"),
        ({"epochs_per_stage": 0}, "epochs_per_stage must be an int >= 1"),
        ({"make_optimizer": "adam"}, "make_optimizer must be a function"),
        ({"train_data": (np.zeros((2, 8, 8, 3)), np.zeros(2))}, "train_data images must"),
    ],
)
def test_bad_arguments_are_refused_before_training(data, options, message):
    model, base_model = models.build_mobilenet_v2(4, image_size=32)
    groups = layer_groups.mobilenet_v2_groups(model, base_model)
    arguments = {"train_data": data, **options}
    with pytest.raises(ValueError, match=message):
        stages.gradual_unfreeze(model, base_model, groups, verbose=0, **arguments)
