"""The course's seed example, as it was given, run offline: the reference for the course's speed.

Two changes from the seed: `weights=None` (ImageNet weights cannot be downloaded here) and the
loss `SparseCategoricalCrossentropy(from_logits=True)`, which the seed's `Dense(10)` logits head
needs (the seed's plain string loss was its bug; the loss does not change the time). Progress
lines are silenced. Run: .venv/bin/python benchmarks/seed_example.py
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

LOSS = tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True)

# Load MobileNetV2 without the top layer (offline: random weights).
base_model = tf.keras.applications.MobileNetV2(
    input_shape=(96, 96, 3), include_top=False, weights=None
)
base_model.trainable = False  # Freeze base model
# Add new classification head
inputs = tf.keras.Input(shape=(96, 96, 3))
x = base_model(inputs, training=False)
x = tf.keras.layers.GlobalAveragePooling2D()(x)
outputs = tf.keras.layers.Dense(10)(x)  # 10 classes
model = tf.keras.Model(inputs, outputs)
optimizer = tf.keras.optimizers.Adam(learning_rate=0.0001)
model.compile(optimizer=optimizer, loss=LOSS, metrics=["accuracy"])
# Create dummy data
x_train = np.random.random((20, 96, 96, 3))
y_train = np.random.randint(0, 10, 20)
history = model.fit(x_train, y_train, epochs=2, batch_size=5, verbose=0)
# Unfreeze base model for fine-tuning and recompile with an even smaller learning rate
base_model.trainable = True
optimizer_finetune = tf.keras.optimizers.Adam(learning_rate=0.00001)
model.compile(optimizer=optimizer_finetune, loss=LOSS, metrics=["accuracy"])
history_finetune = model.fit(x_train, y_train, epochs=2, batch_size=5, verbose=0)
