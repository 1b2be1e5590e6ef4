"""Two-phase fine-tuning (helpers/finetune/two_phase.py): what is frozen when, what carries over."""

import re

import keras
import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pytest
import tensorflow as tf

from helpers.finetune import guards, l2_sp, models, schedules, two_phase
from helpers.lessons import pretrained

matplotlib.use("Agg")

IMAGE_SIZE = 32  # MobileNetV2's smallest input: keeps each run to seconds
NUM_CLASSES = 3


def make_data(seed, count=12):
    rng = np.random.default_rng(seed)
    images = rng.uniform(-1.0, 1.0, size=(count, IMAGE_SIZE, IMAGE_SIZE, 3)).astype("float32")
    return images, np.arange(count) % NUM_CLASSES


def make_model(seed, dropout=0.2):
    """A random MobileNetV2 whose BatchNorm statistics match the data: features not all near 0.

    With Keras's initial statistics (mean 0, variance 1) a random base's features shrink to ~1e-11.
    One training-mode pass with momentum 0 sets each layer's moving statistics to the batch's.
    """
    keras.utils.set_random_seed(seed)
    model, base_model = pretrained.build_mobilenet_v2(
        NUM_CLASSES, image_size=IMAGE_SIZE, weights=None, dropout=dropout
    )
    layers = [
        layer for layer in base_model.layers if isinstance(layer, keras.layers.BatchNormalization)
    ]
    for layer in layers:
        layer.momentum = 0.0
    base_model(make_data(seed + 10, count=16)[0], training=True)
    for layer in layers:
        layer.momentum = 0.99
    return model, base_model


def base_state(base_model):
    """Every weight of the base, BatchNorm moving statistics included, as numpy copies."""
    return [variable.numpy().copy() for variable in base_model.weights]


def head_state(model):
    return [variable.numpy().copy() for variable in model.get_layer("logits").weights]


def same(first, second):
    return len(first) == len(second) and all(
        np.array_equal(a, b) for a, b in zip(first, second, strict=True)
    )


class Recorder(keras.callbacks.Callback):
    """Records each `fit`'s model, optimizer, epochs, and head and base weights at its ends."""

    def __init__(self, base_model, stop_after_first_epoch=False):
        super().__init__()
        self.base_model, self.stop_after_first_epoch = base_model, stop_after_first_epoch
        self.phases, self.epochs = [], []

    def on_train_begin(self, logs=None):
        self.phases.append(
            {
                "model": self.model,
                "optimizer": self.model.optimizer,
                "head_at_begin": head_state(self.model),
            }
        )

    def on_epoch_begin(self, epoch, logs=None):
        self.epochs.append(epoch)

    def on_epoch_end(self, epoch, logs=None):
        if self.stop_after_first_epoch and len(self.phases) == 1:
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        self.phases[-1].update(
            head_at_end=head_state(self.model), base_at_end=base_state(self.base_model)
        )


def test_the_two_phases_freeze_carry_over_and_count_on(capsys):
    model, base_model = make_model(seed=0)
    images, labels = make_data(0)
    # A dataset that reshuffles every time it is read.
    train = tf.data.Dataset.from_tensor_slices((images, labels)).shuffle(12, seed=1).batch(4)
    base_before, head_before = base_state(base_model), head_state(model)
    recorder = Recorder(base_model, stop_after_first_epoch=True)
    history = two_phase.fine_tune(
        model,
        base_model,
        train,
        validation_data=make_data(5, count=6),
        head_epochs=3,
        fine_tune_epochs=2,
        optimizer="sgd",
        batch_size=4,
        callbacks=[recorder],
        verbose=0,
    )
    phase_one, phase_two = recorder.phases
    assert capsys.readouterr().out.strip() == two_phase.CACHED_NOTE
    batch_norm_layers = {
        layer.name
        for layer in base_model.layers
        if isinstance(layer, keras.layers.BatchNormalization)
    }
    # Phase 1: the head alone trains, on cached features; the base and its BatchNorm statistics
    # stay bitwise.
    assert phase_one["model"] is not model
    assert phase_one["model"].get_layer("logits") is model.get_layer("logits")
    assert same(phase_one["base_at_end"], base_before)
    assert not same(phase_one["head_at_end"], head_before)
    # Phase 2 starts from exactly the head phase 1 trained, with a fresh optimizer at the small
    # rate.
    assert phase_two["model"] is model
    assert same(phase_two["head_at_begin"], phase_one["head_at_end"])
    assert phase_two["optimizer"] is not phase_one["optimizer"]
    for phase, learning_rate in ((phase_one, 1e-3), (phase_two, 1e-4)):
        assert type(phase["optimizer"]).__name__ == "SGD"
        assert phase["optimizer"].get_config()["momentum"] == 0.9
        assert float(phase["optimizer"].learning_rate) == pytest.approx(learning_rate)
    # Phase 2 (graph-mode fit) trains the base but leaves every BatchNorm variable bitwise
    # (models.unfreeze).
    batch_norm_ids = {
        id(variable)
        for layer in base_model.layers
        if layer.name in batch_norm_layers
        for variable in layer.weights
    }
    checked = 0
    for variable, old, new in zip(
        base_model.weights, base_before, phase_two["base_at_end"], strict=True
    ):
        if id(variable) in batch_norm_ids:
            assert np.array_equal(old, new), variable.path
            checked += 1
    # Gamma, beta, moving mean and variance of every layer.
    assert checked == 4 * len(batch_norm_layers)
    moved = [
        not np.array_equal(old, new)
        for old, new in zip(base_before, phase_two["base_at_end"], strict=True)
    ]
    assert base_model.weights[0].path.endswith("Conv1/kernel") and moved[0]
    # One continuous record: the callback stopped phase 1 after one epoch, and phase 2 counts on
    # from there.
    assert recorder.epochs == [0, 1, 2]
    assert history.phase_boundary == 1 and len(history.loss) == len(history.val_accuracy) == 3
    assert (history.head_learning_rate, history.fine_tune_learning_rate) == (1e-3, 1e-4)
    assert all(np.isfinite(history.loss)) and all(0 <= value <= 1 for value in history.accuracy)


def test_top_layers_reach_unfreeze_after_phase_one(monkeypatch):
    model, base_model = make_model(seed=3)
    calls, unfreeze = [], models.unfreeze

    def unfreeze_then_stop(base, top_layers=None):
        calls.append((base, top_layers, base.trainable))
        unfreeze(base, top_layers=top_layers)
        raise InterruptedError("no need to train phase 2 here")

    monkeypatch.setattr(two_phase.models, "unfreeze", unfreeze_then_stop)
    with pytest.raises(InterruptedError):
        two_phase.fine_tune(
            model, base_model, make_data(3), head_epochs=1, top_layers=10, verbose=0
        )
    # Frozen until phase 2.
    assert calls == [(base_model, 10, False)]
    open_layers = {layer.name for layer in base_model.layers if layer.trainable and layer.weights}
    # The layers with weights among MobileNetV2's last 10.
    assert open_layers == {"block_16_depthwise", "block_16_project", "Conv_1"}


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_phase_one_keeps_the_base_bitwise_and_cached_equals_uncached(seed, capsys):
    results = []
    # Any augmentation switches the cache off.
    for augmentation in (None, keras.layers.Identity()):
        model, base_model = make_model(seed)
        base_before, head_before = base_state(base_model), head_state(model)
        history = two_phase.fine_tune(
            model,
            base_model,
            make_data(seed),
            validation_data=make_data(seed + 5, count=6),
            head_epochs=3,
            fine_tune_epochs=0,
            augmentation=augmentation,
            batch_size=4,
            seed=seed,
            verbose=0,
        )
        # Weights and BatchNorm statistics, bitwise.
        assert same(base_state(base_model), base_before)
        # The head did train.
        assert not same(head_state(model), head_before)
        if augmentation is not None:
            # The full model was compiled for phase 1.
            assert type(model.optimizer).__name__ == "Adam"
            assert float(model.optimizer.learning_rate) == pytest.approx(1e-3)
        results.append((history, head_state(model)))
    notes = [two_phase.CACHED_NOTE, two_phase.UNCACHED_NOTE]
    assert capsys.readouterr().out.split("\n")[:2] == notes
    (cached, cached_head), (uncached, uncached_head) = results
    assert cached.note == two_phase.CACHED_NOTE and uncached.note == two_phase.UNCACHED_NOTE
    for key in ("loss", "val_loss", "accuracy"):
        np.testing.assert_allclose(
            getattr(cached, key), getattr(uncached, key), rtol=1e-4, atol=1e-5
        )
    for cached_weights, uncached_weights in zip(cached_head, uncached_head, strict=True):
        np.testing.assert_allclose(cached_weights, uncached_weights, rtol=1e-4, atol=1e-6)


def test_cached_features_keep_labels_aligned_when_the_dataset_reshuffles():
    # Image i is filled with i / 10, so its pooled feature is i / 10 in every channel.
    values = np.arange(10, dtype="float32") / 10
    images = np.repeat(values, 4 * 4 * 3).reshape(10, 4, 4, 3)
    dataset = tf.data.Dataset.from_tensor_slices((images, np.arange(10)))
    dataset = dataset.shuffle(10, seed=0).batch(3)
    identity_base = keras.Sequential([keras.Input((4, 4, 3)), keras.layers.Identity()])
    cached = two_phase._cached_features(identity_base, dataset, batch_size=4, seed=None)
    features = np.concatenate([batch_features.numpy() for batch_features, _ in cached])
    labels = np.concatenate([batch_labels.numpy() for _, batch_labels in cached])
    # Really shuffled, and each feature still beside its own label.
    assert sorted(labels.tolist()) == list(range(10)) and labels.tolist() != list(range(10))
    np.testing.assert_allclose(features[:, 0], labels / 10, rtol=1e-6)


PLATEAU = keras.callbacks.ReduceLROnPlateau(patience=1)


@pytest.fixture(scope="module")
def pair():
    return make_model(seed=0)


PLATEAU_WANTED = "ReduceLROnPlateau needs a float rate, not a schedule."
CALLBACKS_WANTED = "callbacks must be None or a list of keras.callbacks.Callback."
RATE_WANTED = "must be a positive, finite number or a LearningRateSchedule."
DECAY_WANTED = "must be a finite number >= 0."
PAIR_WANTED = (
    "model and base_model must be a pair returned by models.build_mobilenet_v2 (model applies "
    "base_model, then GlobalAveragePooling2D, then its head). Received: model="
)
DATA_WANTED = "train_data must be a tf.data.Dataset or a tuple (images, labels)."
RAW_PIXELS = (
    "train_data images must be preprocessed floats in [-1, 1] (mobilenet_v2.preprocess_input), "
    "not raw pixels. Received: train_data images of dtype uint8"
)
GOOD_IMAGES = np.zeros((2, 32, 32, 3), "float32")
NAN_IMAGES = np.where(np.arange(GOOD_IMAGES.size).reshape(GOOD_IMAGES.shape) < 3, np.nan, 0.0)


def dataset_of(images, labels):
    return tf.data.Dataset.from_tensor_slices((images, labels)).batch(2)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"model": "mobilenet"}, "model must be a keras.Model. Received: model='mobilenet'"),
        ({"base_model": keras.Sequential([keras.layers.Dense(1)])}, PAIR_WANTED),
        ({"head_epochs": -1}, "head_epochs must be an int >= 0. Received: head_epochs=-1"),
        (
            {"fine_tune_epochs": 1.0},
            "fine_tune_epochs must be an int >= 0. Received: fine_tune_epochs=1.0",
        ),
        (
            {"head_epochs": 0, "fine_tune_epochs": 0},
            "head_epochs + fine_tune_epochs must be at least 1. "
            "Received: head_epochs=0, fine_tune_epochs=0",
        ),
        (
            {"head_learning_rate": 0.0},
            f"head_learning_rate {RATE_WANTED} Received: head_learning_rate=0.0",
        ),
        (
            {"fine_tune_learning_rate": float("nan")},
            f"fine_tune_learning_rate {RATE_WANTED} Received: fine_tune_learning_rate=nan",
        ),
        (
            {"fine_tune_learning_rate": -1e-5},
            f"fine_tune_learning_rate {RATE_WANTED} Received: fine_tune_learning_rate=-1e-05",
        ),
        (
            {"head_learning_rate": "1e-3"},
            f"head_learning_rate {RATE_WANTED} Received: head_learning_rate='1e-3'",
        ),
        (
            {
                "head_learning_rate": keras.optimizers.schedules.PolynomialDecay(
                    0, 10, end_learning_rate=1e-3
                )
            },
            "head_learning_rate must be a schedule of float rates (write 0.0, not 0): Keras casts "
            "an int schedule's rates to int32, so it stays at 0 or fails. "
            "Received: head_learning_rate with initial_learning_rate=0",
        ),
        (
            {
                "fine_tune_learning_rate": schedules.warmup_cosine(1e-5, 10, 2),
                "callbacks": [PLATEAU],
            },
            f"{PLATEAU_WANTED} Received: fine_tune_learning_rate=<",
        ),
        (
            {"head_learning_rate": schedules.OneCycle(1e-3, 10), "callbacks": [PLATEAU]},
            f"{PLATEAU_WANTED} Received: head_learning_rate=<",
        ),
        (
            {"callbacks": "abc"},
            f"{CALLBACKS_WANTED} Received: callbacks='abc'",
        ),
        (
            {"callbacks": [PLATEAU, "abc"]},
            f"{CALLBACKS_WANTED} Received: an element 'abc'",
        ),
        (
            {"tensorboard_log_dir": 3},
            "tensorboard_log_dir must be a str, a path or None. Received: tensorboard_log_dir=3",
        ),
        (
            {"optimizer": "adamw"},
            "optimizer must be one of ('adam', 'sgd', 'rmsprop'). Received: optimizer='adamw'. "
            "Did you mean 'adam'?",
        ),
        (
            {"fine_tune_weight_decay": -1},
            f"fine_tune_weight_decay {DECAY_WANTED} Received: fine_tune_weight_decay=-1",
        ),
        (
            {"fine_tune_weight_decay": float("nan")},
            f"fine_tune_weight_decay {DECAY_WANTED} Received: fine_tune_weight_decay=nan",
        ),
        (
            {"fine_tune_weight_decay": True},
            f"fine_tune_weight_decay {DECAY_WANTED} Received: fine_tune_weight_decay=True",
        ),
        (
            {"fine_tune_weight_decay": None},
            f"fine_tune_weight_decay {DECAY_WANTED} Received: fine_tune_weight_decay=None",
        ),
        ({"batch_size": 0}, "batch_size must be an int >= 1. Received: batch_size=0"),
        ({"seed": -1}, "seed must be an int >= 0. Received: seed=-1"),
        ({"verbose": 3}, "verbose must be one of (0, 1, 2, 'auto'). Received: verbose=3"),
        (
            {"top_layers": 0},
            "top_layers must be None or an int from 1 to 154. Received: top_layers=0",
        ),
        (
            {"augmentation": "flip"},
            "augmentation must be a Keras layer or None. Received: augmentation='flip'",
        ),
        ({"train_data": [1, 2, 3]}, f"{DATA_WANTED} Received: a list of 3 items"),
        (
            {"train_data": (np.zeros((2, 48, 48, 3)), np.zeros(2, int))},
            "train_data images must have shape (n, 32, 32, 3). "
            "Received: train_data images of shape (2, 48, 48, 3)",
        ),
        (
            {"train_data": (np.zeros((0, 32, 32, 3)), np.zeros(0, int))},
            "train_data images must hold at least one image. "
            "Received: train_data images of shape (0, 32, 32, 3)",
        ),
        ({"train_data": (GOOD_IMAGES.astype(np.uint8), np.zeros(2, int))}, RAW_PIXELS),
        (
            {"train_data": (GOOD_IMAGES, np.zeros(3, int))},
            "train_data labels must hold one label per example (2). Received: 3 labels",
        ),
        (
            {"train_data": (GOOD_IMAGES, np.array([0.0, 1.5]))},
            "train_data labels must be whole class indices (ints). "
            "Received: train_data labels with values [1.5]",
        ),
        (
            {"validation_data": (GOOD_IMAGES, np.array([0, 3]))},
            "validation_data labels must be in [0, 3). "
            "Received: validation_data labels with values [3]",
        ),
        (
            {"validation_data": tf.data.Dataset.range(3)},
            "validation_data must yield (images, labels) batches. Received: elements",
        ),
        (
            {"train_data": dataset_of(np.zeros((2, 48, 48, 3), "float32"), [0, 1])},
            "train_data images must have shape (n, 32, 32, 3). "
            "Received: train_data images of shape (2, 48, 48, 3)",
        ),
        ({"train_data": dataset_of(GOOD_IMAGES.astype(np.uint8), [0, 1])}, RAW_PIXELS),
        (
            {"train_data": dataset_of(NAN_IMAGES.astype("float32"), [0, 1])},
            "train_data images must be finite. "
            "Received: train_data images with 3 NaN or inf values",
        ),
        (
            {"train_data": dataset_of(GOOD_IMAGES, [0.0, 0.5])},
            "train_data labels must be whole class indices (ints). "
            "Received: train_data labels with values [0.5]",
        ),
        (
            {"train_data": dataset_of(GOOD_IMAGES, [0, 5])},
            "train_data labels must be in [0, 3). Received: train_data labels with values [5]",
        ),
    ],
)
def test_bad_arguments_raise_before_any_training(pair, arguments, message):
    model, base_model = pair
    before = [variable.numpy().copy() for variable in model.weights]
    arguments = {
        "model": model,
        "base_model": base_model,
        "train_data": make_data(0, count=2),
        "verbose": 0,
        **arguments,
    }
    with pytest.raises(ValueError, match=re.escape(message)):
        two_phase.fine_tune(**arguments)
    assert same([variable.numpy() for variable in model.weights], before)


def test_the_whole_model_as_base_model_is_refused(pair):
    model, _ = pair
    with pytest.raises(ValueError, match=re.escape(PAIR_WANTED)):
        two_phase.fine_tune(model, model, make_data(0, count=2), verbose=0)


def test_a_diverging_head_rate_stops_phase_one_and_names_the_rate(capsys):
    model, base_model = make_model(seed=7)
    with pytest.raises(guards.TrainingDivergedError) as error:
        two_phase.fine_tune(
            model,
            base_model,
            make_data(7),
            head_epochs=3,
            fine_tune_epochs=2,
            head_learning_rate=1e3,
            batch_size=4,
            verbose=0,
        )
    message = str(error.value)
    assert message.startswith("Training stopped: the loss ")
    assert message.endswith("Received: head_learning_rate=1000.0")
    # Phase 2 never started: the base is still frozen.
    assert not base_model.trainable


def tiny_pair(seed):
    """A pair shaped like `models.build_mobilenet_v2`'s with a one-convolution base: fast."""
    keras.utils.set_random_seed(seed)
    base_inputs = keras.Input((8, 8, 3))
    base_outputs = keras.layers.BatchNormalization()(keras.layers.Conv2D(4, 3)(base_inputs))
    base_model = keras.Model(base_inputs, base_outputs, name="tiny_base")
    inputs = keras.Input((8, 8, 3))
    outputs = keras.layers.GlobalAveragePooling2D(name="pooling")(base_model(inputs))
    for layer in models.head_layers(NUM_CLASSES, dropout=0):
        outputs = layer(outputs)
    return keras.Model(inputs, outputs), base_model


def tiny_data(seed, count=12):
    rng = np.random.default_rng(seed)
    images = rng.uniform(-1.0, 1.0, size=(count, 8, 8, 3)).astype("float32")
    return images, np.arange(count) % NUM_CLASSES


def test_a_diverging_fine_tune_rate_stops_phase_two_and_names_the_rate(capsys):
    model, base_model = tiny_pair(seed=0)
    options = {"head_epochs": 1, "fine_tune_epochs": 3, "batch_size": 4, "verbose": 0}
    with pytest.raises(
        guards.TrainingDivergedError, match=re.escape("Received: fine_tune_learning_rate=1000.0")
    ):
        two_phase.fine_tune(model, base_model, tiny_data(0), fine_tune_learning_rate=1e3, **options)


def test_an_int_learning_rate_works_exactly_like_the_float(capsys):
    # One step per phase (batch_size covers the data), so no rate can diverge here.
    histories = []
    for head_rate, fine_tune_rate in ((1, 1), (1.0, 1.0)):
        model, base_model = tiny_pair(seed=1)
        histories.append(
            two_phase.fine_tune(
                model,
                base_model,
                tiny_data(1),
                head_epochs=2,
                fine_tune_epochs=1,
                head_learning_rate=head_rate,
                fine_tune_learning_rate=fine_tune_rate,
                batch_size=12,
                verbose=0,
            )
        )
    from_int, from_float = histories
    assert from_int == from_float
    assert type(from_int.head_learning_rate) is float
    assert type(from_int.fine_tune_learning_rate) is float


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_numpy_scalars_work_like_python_numbers(seed, capsys):
    python = {
        "head_epochs": 2,
        "fine_tune_epochs": 1,
        "head_learning_rate": 1e-2,
        "fine_tune_learning_rate": 1e-3,
        "top_layers": 2,
        "batch_size": 4,
        "seed": seed,
    }
    numpy = {
        "head_epochs": np.int64(2),
        "fine_tune_epochs": np.int64(1),
        "head_learning_rate": np.float32(1e-2),
        "fine_tune_learning_rate": np.float32(1e-3),
        "top_layers": np.int64(2),
        "batch_size": np.int64(4),
        "seed": np.int64(seed),
    }
    histories = []
    for options in (python, numpy):
        model, base_model = tiny_pair(seed)
        histories.append(
            two_phase.fine_tune(model, base_model, tiny_data(seed), verbose=0, **options)
        )
    expected, received = histories
    for key in ("loss", "accuracy", "learning_rate"):
        assert getattr(received, key) == pytest.approx(getattr(expected, key), rel=1e-5), key
    assert received.phase_boundary == expected.phase_boundary == 2
    assert received.head_learning_rate == pytest.approx(1e-2, rel=1e-6)


def test_plot_history_marks_the_phase_boundary_and_each_learning_rate():
    history = two_phase.FineTuneHistory(
        [1.0, 0.6, 0.5, 0.4],
        [0.4, 0.6, 0.7, 0.8],
        [1.1, 0.7, 0.6, 0.6],
        [0.3, 0.5, 0.6, 0.7],
        2,
        1e-3,
        1e-5,
        "",
    )
    figure, ax = plt.subplots()
    assert two_phase.plot_history(history, ax=ax) is ax
    training, validation, boundary = ax.lines
    assert list(training.get_ydata()) == history.loss
    assert list(validation.get_ydata()) == history.val_loss
    # Between epoch 2 (the last head epoch) and epoch 3.
    assert list(boundary.get_xdata()) == [2.5, 2.5]
    labels = [text.get_text().strip() for text in ax.texts]
    assert labels == ["head, lr 0.001", "fine-tune, lr 1e-05"]
    two_phase.plot_history(history, metric="accuracy", ax=ax)
    assert list(ax.lines[3].get_ydata()) == history.accuracy
    message = "metric must be one of ('loss', 'accuracy'). Received: metric='val_loss'"
    with pytest.raises(ValueError, match=re.escape(message)):
        two_phase.plot_history(history, metric="val_loss", ax=ax)
    message = "history must be a FineTuneHistory. Received: history={'loss': [1.0]}"
    with pytest.raises(ValueError, match=re.escape(message)):
        two_phase.plot_history({"loss": [1.0]}, ax=ax)
    plt.close(figure)


def test_reduce_lr_on_plateau_in_both_phases_and_tensorboard_steps_across_them(
    tmp_path, read_scalars
):
    model, base_model = make_model(seed=4)
    # min_delta far above any change: only the first epoch of each fit counts as an improvement.
    plateau = keras.callbacks.ReduceLROnPlateau(
        monitor="val_loss", factor=0.5, patience=1, min_delta=1e9
    )
    options = {
        "head_epochs": 3,
        "fine_tune_epochs": 3,
        "batch_size": 4,
        "callbacks": [plateau],
        "verbose": 0,
    }
    # 2 training steps per epoch.
    data = make_data(4, count=8), make_data(9, count=4)
    history = two_phase.fine_tune(model, base_model, *data, **options, tensorboard_log_dir=tmp_path)
    # A cut after the second epoch of each phase; phase 2 starts afresh at its own rate.
    np.testing.assert_allclose(
        history.learning_rate, [1e-3, 1e-3, 5e-4, 1e-4, 1e-4, 5e-5], rtol=1e-6
    )
    # Cut again after the last epoch.
    assert float(model.optimizer.learning_rate) == pytest.approx(2.5e-5)
    train = read_scalars(tmp_path / "train")
    # One run: steps 1 to 12 across both phases.
    assert sorted(train["learning_rate"]) == sorted(train["batch_loss"]) == list(range(1, 13))
    # Every step of an epoch runs at the epoch's rate.
    expected = np.repeat(history.learning_rate, 2)
    np.testing.assert_allclose(
        [train["learning_rate"][step] for step in range(1, 13)], expected, rtol=1e-6
    )
    validation_epochs = sorted(read_scalars(tmp_path / "validation")["epoch_loss"])
    assert sorted(train["epoch_loss"]) == validation_epochs == [*range(6)]
    np.testing.assert_allclose(
        [train["epoch_loss"][epoch] for epoch in range(6)], history.loss, rtol=1e-6
    )


def test_a_schedule_runs_phase_one_step_by_step_and_labels_the_plot(tmp_path, capsys, read_scalars):
    model, base_model = make_model(seed=5)
    schedule = schedules.warmup_cosine(
        1e-2, total_steps=6, warmup_steps=2, initial_learning_rate=1e-3
    )
    history = two_phase.fine_tune(
        model,
        base_model,
        make_data(5, count=8),
        head_epochs=3,
        fine_tune_epochs=0,
        head_learning_rate=schedule,
        batch_size=4,
        verbose=0,
        tensorboard_log_dir=tmp_path,
    )
    # 3 epochs of 2 steps.
    expected = schedules.learning_rates(schedule, 6)
    train = read_scalars(tmp_path / "train")
    np.testing.assert_allclose(
        [train["learning_rate"][step] for step in range(1, 7)], expected, rtol=1e-6
    )
    # Each epoch's last step.
    np.testing.assert_allclose(history.learning_rate, expected[1::2], rtol=1e-6)
    assert history.head_learning_rate is schedule and history.fine_tune_learning_rate == 1e-4
    figure, ax = plt.subplots()
    two_phase.plot_history(history, ax=ax)
    labels = [text.get_text().strip() for text in ax.texts]
    assert labels == ["head, lr CosineDecay", "fine-tune, lr 0.0001"]
    plt.close(figure)


def test_a_fine_tune_schedule_reaches_phase_two_optimizer(monkeypatch, capsys):
    model, base_model = make_model(seed=6)
    schedule, compiled = schedules.OneCycle(1e-4, total_steps=20), []
    compile_model = keras.Model.compile

    def compile_then_stop(self, optimizer, **options):
        compiled.append(optimizer)
        compile_model(self, optimizer=optimizer, **options)
        if len(compiled) == 2:
            raise InterruptedError("no need to train phase 2 here")

    monkeypatch.setattr(keras.Model, "compile", compile_then_stop)
    with pytest.raises(InterruptedError):
        two_phase.fine_tune(
            model,
            base_model,
            make_data(6),
            head_epochs=1,
            fine_tune_learning_rate=schedule,
            verbose=0,
        )
    head_optimizer, fine_tune_optimizer = compiled
    assert float(head_optimizer.learning_rate) == pytest.approx(1e-3)
    for step in (0, 5, 19):
        fine_tune_optimizer.iterations.assign(step)
        assert float(fine_tune_optimizer.learning_rate) == float(schedule(step))


@pytest.mark.parametrize(
    ("weight_decay", "expected"), [(1e-2, 1e-2), (np.float32(0.5), 0.5), (0.0, None), (0, None)]
)
def test_fine_tune_weight_decay_reaches_phase_two_optimizer_only(weight_decay, expected):
    model, base_model = tiny_pair(seed=2)
    recorder = Recorder(base_model)
    two_phase.fine_tune(
        model,
        base_model,
        tiny_data(2),
        head_epochs=1,
        fine_tune_epochs=1,
        fine_tune_weight_decay=weight_decay,
        batch_size=12,
        callbacks=[recorder],
        verbose=0,
    )
    head_phase, fine_tune_phase = recorder.phases
    # Keras's "no decay" is None; 0.0 becomes None too.
    assert head_phase["optimizer"].weight_decay is None
    assert fine_tune_phase["optimizer"].weight_decay == expected


def test_fine_tune_compiles_again_for_another_weight_decay_or_other_regularizers():
    model, base_model = tiny_pair(seed=3)
    data = tiny_data(3)

    def phase_two(weight_decay=0.0):
        two_phase.fine_tune(
            model,
            base_model,
            data,
            head_epochs=0,
            fine_tune_epochs=1,
            fine_tune_weight_decay=weight_decay,
            batch_size=12,
            verbose=0,
        )
        return model.train_function

    first = phase_two()
    assert phase_two() is first  # the same settings reuse the traced step
    assert l2_sp.attach(base_model, strength=1e-2) == 1
    penalised = phase_two()
    assert penalised is not first
    assert phase_two() is penalised
    # A new reference means new regularizers: the old trace holds the old reference.
    l2_sp.attach(base_model, strength=1e-2)
    reattached = phase_two()
    assert reattached is not penalised
    assert l2_sp.detach(base_model) == 1
    detached = phase_two()
    assert detached is not reattached
    assert phase_two() is detached
    decayed = phase_two(weight_decay=1e-2)
    assert decayed is not detached
    assert phase_two(weight_decay=1e-2) is decayed
    assert phase_two(weight_decay=2e-2) is not decayed


def test_the_loss_after_attach_includes_the_penalty_even_after_an_earlier_trace():
    model, base_model = tiny_pair(seed=4)
    images, labels = tiny_data(4)
    options = {
        "head_epochs": 0,
        "fine_tune_epochs": 1,
        "fine_tune_learning_rate": 1e-6,
        "batch_size": 12,  # one step: the epoch's loss is the loss before it
        "verbose": 0,
    }
    two_phase.fine_tune(model, base_model, (images, labels), **options)  # traced without L2-SP
    l2_sp.attach(base_model, strength=5.0)
    kernel = base_model.layers[1].kernel  # the one Conv2D, after the InputLayer
    kernel.assign(kernel + 0.25)  # the base has drifted: 5 * 0.25**2 per entry
    expected_penalty = 5.0 * 0.25**2 * np.prod(kernel.shape)
    assert l2_sp.penalty(base_model) == pytest.approx(expected_penalty, rel=1e-6)
    logits = model(images, training=False)
    data_loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)(labels, logits)
    history = two_phase.fine_tune(model, base_model, (images, labels), **options)
    assert history.loss[0] == pytest.approx(float(data_loss) + expected_penalty, rel=1e-5)
    assert expected_penalty > 10 * float(data_loss)  # so the penalty is no rounding error
