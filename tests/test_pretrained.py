"""The named bases of `pretrained`: the bundled shapes base, ImageNet with an offline fallback."""

import re
import socket
import time
import warnings

import keras
import numpy as np
import pytest

from helpers.lessons import network, pretrained

IMAGE_SIZE = 32  # the smallest size MobileNetV2 accepts: keeps every test fast


def weights_of(model):
    return [variable.numpy().copy() for variable in model.weights]


def save_random_base(path, seed, legacy=False):
    keras.utils.set_random_seed(seed)
    _, base_model = pretrained.build_mobilenet_v2(2, image_size=IMAGE_SIZE, weights=None)
    if legacy:  # the ImageNet files are legacy .h5 files
        base_model.save(str(path))
    else:
        base_model.save_weights(str(path))
    return weights_of(base_model)


def test_a_missing_weights_file_raises_file_not_found(tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError, match="missing.weights.h5"):
        pretrained.build_mobilenet_v2(
            2, image_size=IMAGE_SIZE, weights=tmp_path / "missing.weights.h5"
        )
    monkeypatch.setattr(pretrained, "BUNDLED_BASE_PATH", tmp_path / "gone.weights.h5")
    with pytest.raises(FileNotFoundError, match="gone.weights.h5"):
        pretrained.build_mobilenet_v2(2, image_size=IMAGE_SIZE, weights="bundled")


@pytest.mark.parametrize("seed", [0, 1])
def test_a_weights_file_and_the_bundled_base_load_exactly(tmp_path, monkeypatch, seed):
    path = tmp_path / "base.weights.h5"
    saved = save_random_base(path, seed)
    monkeypatch.setattr(pretrained, "BUNDLED_BASE_PATH", path)
    keras.utils.set_random_seed(seed + 100)  # a different random start, overwritten by the file
    for weights in (path, "bundled"):
        _, base_model = pretrained.build_mobilenet_v2(2, image_size=IMAGE_SIZE, weights=weights)
        assert all(np.array_equal(a, b) for a, b in zip(weights_of(base_model), saved, strict=True))
    _, random_base = pretrained.build_mobilenet_v2(2, image_size=IMAGE_SIZE, weights=None)
    assert not all(
        np.array_equal(a, b) for a, b in zip(weights_of(random_base), saved, strict=True)
    )


def test_cached_imagenet_weights_load_without_any_network_check(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    cache_path = pretrained.imagenet_weights_path(IMAGE_SIZE, 0.35)
    assert (
        cache_path
        == tmp_path
        / "models"
        / "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_224_no_top.h5"
    )
    cache_path.parent.mkdir()
    saved = save_random_base(cache_path, seed=3, legacy=True)

    def no_network_check(*arguments, **keywords):
        raise AssertionError("a cached file needs no network check")

    monkeypatch.setattr(network, "is_reachable", no_network_check)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no fallback warning either
        _, base_model = pretrained.build_mobilenet_v2(2, image_size=IMAGE_SIZE, weights="imagenet")
    assert all(np.array_equal(a, b) for a, b in zip(weights_of(base_model), saved, strict=True))


def fallback_setup(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "empty_keras_home"))
    path = tmp_path / "bundled.weights.h5"
    monkeypatch.setattr(pretrained, "BUNDLED_BASE_PATH", path)
    return save_random_base(path, seed=4)


def test_a_failed_download_warns_and_falls_back_to_the_bundled_base(tmp_path, monkeypatch):
    bundled = fallback_setup(tmp_path, monkeypatch)

    def failing_download(fname, origin, **keywords):  # what keras.utils.get_file raises offline
        raise Exception(
            f"URL fetch failure on {origin}: None -- [Errno -2] Name or service not known"
        )

    monkeypatch.setattr(network, "is_reachable", lambda *arguments, **keywords: True)
    monkeypatch.setattr(keras.utils, "get_file", failing_download)
    with pytest.warns(UserWarning) as caught:
        _, base_model = pretrained.build_mobilenet_v2(2, image_size=IMAGE_SIZE, weights="imagenet")
    message = str(caught[0].message)
    assert (
        "URL fetch failure" in message
        and "KERAS_HOME" in message
        and "bundled base instead" in message
    )
    assert str(pretrained.imagenet_weights_path(IMAGE_SIZE, 0.35)) in message
    assert all(np.array_equal(a, b) for a, b in zip(weights_of(base_model), bundled, strict=True))
    with pytest.raises(ConnectionError, match="only exists for alpha=0.35"):
        pretrained.build_mobilenet_v2(2, image_size=IMAGE_SIZE, alpha=0.5, weights="imagenet")


def test_the_real_offline_path_fails_over_to_the_bundled_base_in_seconds(tmp_path, monkeypatch):
    if network.is_reachable(pretrained.IMAGENET_HOST):
        pytest.skip("the ImageNet host is reachable here: this test checks the offline path")
    bundled = fallback_setup(tmp_path, monkeypatch)
    start = time.monotonic()
    with pytest.warns(UserWarning, match="is not reachable") as caught:
        _, base_model = pretrained.build_mobilenet_v2(2, image_size=IMAGE_SIZE, weights="imagenet")
    assert time.monotonic() - start < 15  # measured about 2 s here (mostly building the model)
    assert "KERAS_HOME" in str(caught[0].message) and "bundled base instead" in str(
        caught[0].message
    )
    assert all(np.array_equal(a, b) for a, b in zip(weights_of(base_model), bundled, strict=True))


def test_a_lookup_that_never_answers_cannot_hold_the_network_check(monkeypatch):
    def hanging_connection(address, timeout=None):  # a DNS lookup that answers only after 5 s
        time.sleep(5)
        raise socket.gaierror(-3, "Temporary failure in name resolution")

    monkeypatch.setattr(socket, "create_connection", hanging_connection)
    start = time.monotonic()
    assert network.is_reachable(pretrained.IMAGENET_HOST, timeout=0.3) is False
    assert time.monotonic() - start < 2


def no_network(*arguments, **keywords):
    raise AssertionError("a bad argument must be caught before any network check")


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"num_classes": 1}, "num_classes must be an int >= 2. Received: num_classes=1"),
        ({"num_classes": 4.0}, "num_classes must be an int >= 2. Received: num_classes=4.0"),
        ({"image_size": 16}, "image_size must be an int >= 32. Received: image_size=16"),
        (
            {"alpha": 0.3},
            "alpha must be one of (0.35, 0.5, 0.75, 1.0, 1.3, 1.4). Received: alpha=0.3",
        ),
        ({"dropout": 1.0}, "dropout must be a finite number in [0, 1). Received: dropout=1.0"),
        (
            {"weights": "imagent"},
            "weights must be one of ('bundled', 'imagenet'). Received: weights='imagent'. "
            "Did you mean 'imagenet'?",
        ),
        (
            {"weights": "bundled", "alpha": 0.5},
            "alpha must be 0.35 with weights='bundled' (the bundled base's width); "
            "use weights=None or 'imagenet' for other widths. Received: alpha=0.5",
        ),
    ],
)
def test_bad_arguments_fail_at_once_naming_the_argument(arguments, message, monkeypatch):
    monkeypatch.setattr(network, "is_reachable", no_network)
    monkeypatch.setattr(keras.utils, "get_file", no_network)
    call = {"num_classes": 2, "image_size": IMAGE_SIZE, "weights": "imagenet", **arguments}
    with pytest.raises(ValueError, match=re.escape(message)):
        pretrained.build_mobilenet_v2(**call)


def test_numpy_scalars_are_accepted(tmp_path, monkeypatch):
    path = tmp_path / "base.weights.h5"
    saved = save_random_base(path, seed=5)
    monkeypatch.setattr(pretrained, "BUNDLED_BASE_PATH", path)
    model, base_model = pretrained.build_mobilenet_v2(
        np.int64(3), image_size=np.int64(IMAGE_SIZE), alpha=np.float32(0.35), dropout=np.float32(0)
    )
    assert model.output_shape == (None, 3)
    assert all(np.array_equal(a, b) for a, b in zip(weights_of(base_model), saved, strict=True))
    cache_name = pretrained.imagenet_weights_path(np.int64(96), np.float32(0.35)).name
    assert cache_name == "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_96_no_top.h5"
