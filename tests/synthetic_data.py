"""Small synthetic data shared by several test modules (imported as `synthetic_data`)."""

import numpy as np


def blobs(seed: int, count: int = 48, num_features: int = 6, num_classes: int = 3):
    """Well-separated Gaussian blobs: features near one-hot class centres, plus noise."""
    rng = np.random.default_rng(seed)
    labels = np.arange(count) % num_classes
    centres = 3.0 * np.eye(num_classes, num_features)
    features = centres[labels] + rng.normal(scale=0.5, size=(count, num_features))
    return features.astype("float32"), labels
