"""Small Keras 3 models (PyTorch backend) converted by Tools/keras2touchstone.py, for the tests of
Touchstone's Keras JSON loader and of the converter itself (ModelZoo/keras/, committed).

    KERAS_BACKEND=torch python3 ModelZoo/scripts/make_keras.py     (needs keras==3.14.0, torch)

Each file embeds one test case computed by Keras; `touchstone verify FILE` checks it.
"""
import os
import subprocess
import sys
import tempfile

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from keras import layers  # noqa: E402

import zoo  # noqa: E402

OUT = os.path.join(zoo.ZOO, "keras")
CONVERTER = os.path.join(os.path.dirname(zoo.ZOO), "Tools", "keras2touchstone.py")


def randomize(model, seed):
    """Seeded non-trivial weights (the default initialisers leave biases and BN statistics trivial)."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        weights = layer.get_weights()
        if not weights:
            continue
        new = []
        for w in weights:
            if type(layer).__name__ == "BatchNormalization" and w is weights[-1]:
                new.append(rng.uniform(0.5, 1.5, w.shape).astype(np.float32))  # moving variance
            else:
                new.append((rng.standard_normal(w.shape) * 0.3).astype(np.float32))
        layer.set_weights(new)


def cnn():
    x = keras.Input((18, 16, 3), name="image")
    a = layers.Conv2D(12, 3, strides=2, padding="same", activation="relu", name="stem")(x)
    a = layers.BatchNormalization(name="bn")(a)
    b = layers.DepthwiseConv2D(3, padding="same", name="dw")(a)
    b = layers.ReLU(max_value=6.0, name="relu6")(b)
    c = layers.SeparableConv2D(12, 3, padding="same", activation="swish", name="sep")(a)
    m = layers.Concatenate(name="concat")([b, c])
    m = layers.MaxPooling2D(2, name="pool")(m)
    # Kernel 4, stride 2: Keras's backends agree on `same` only where kernel − stride is even.
    up = layers.Conv2DTranspose(6, 4, strides=2, padding="same", name="up")(m)
    g = layers.GlobalAveragePooling2D(name="gap")(up)
    y = layers.Dense(5, activation="softmax", name="head")(g)
    return keras.Model(x, y, name="kz_cnn")


def sequence():
    x = keras.Input((20,), name="tokens")
    e = layers.Embedding(30, 8, name="embed")(x)
    c = layers.Conv1D(10, 3, padding="causal", dilation_rate=2, activation="relu", name="causal")(e)
    r = layers.Bidirectional(layers.GRU(6, return_sequences=True), merge_mode="concat", name="bigru")(c)
    s = layers.LSTM(5, name="lstm")(r)
    y = layers.Dense(3, name="logits")(s)
    return keras.Model(x, y, name="kz_sequence")


def transformer():
    x = keras.Input((10, 16), name="sequence")
    h = layers.LayerNormalization(name="ln1")(x)
    h = layers.MultiHeadAttention(num_heads=2, key_dim=8, name="mha")(h, h)
    x2 = layers.Add(name="res1")([x, h])
    f = layers.LayerNormalization(name="ln2")(x2)
    f = layers.Dense(32, activation="gelu", name="ffn1")(f)
    f = layers.Dense(16, name="ffn2")(f)
    y = layers.Add(name="res2")([x2, f])
    return keras.Model(x, y, name="kz_transformer")


def mlp():
    return keras.Sequential([keras.Input((12,)), layers.Dense(20, activation="tanh"), layers.Dropout(0.2),
                             layers.Dense(4, activation="sigmoid")], name="kz_sequential_mlp")


def dot():
    """Dot products: cosine similarity of two vectors, and a sequence-by-sequence score matrix."""
    a, b = keras.Input((8,), name="a"), keras.Input((8,), name="b")
    s, t = keras.Input((5, 6), name="s"), keras.Input((7, 6), name="t")
    cosine = layers.Dot(axes=1, normalize=True, name="cosine")([a, b])
    scores = layers.Dot(axes=(2, 2), name="scores")([s, t])
    mixed = layers.Dot(axes=(1, 1), name="mixed")([scores, layers.Dense(7, name="proj")(s)])
    return keras.Model([a, b, s, t], [cosine, scores, mixed], name="kz_dot")


def main():
    os.makedirs(OUT, exist_ok=True)
    for seed, build in enumerate((cnn, sequence, transformer, mlp, dot)):
        keras.utils.set_random_seed(seed)
        model = build()
        randomize(model, seed)
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, f"{model.name}.keras")
            model.save(path)
            subprocess.run([sys.executable, CONVERTER, path, os.path.join(OUT, f"{model.name}.json"), "--seed", str(seed)], check=True)


if __name__ == "__main__":
    main()
