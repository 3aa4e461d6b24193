"""Converts a Keras 3 model (.keras, any backend) to the JSON model format frugally-deep reads,
which Touchstone loads unchanged (`touchstone verify OUT.json` runs its embedded test case).

    python3 Tools/keras2touchstone.py model.keras out.json [--seed 0]

Written for Touchstone from the format's description (Sources/KerasFormat reads it): top-level
`architecture` (the model's `to_json()`), `image_data_format`, `input_shapes` and `output_shapes`
(without the batch dimension), `tests` (one case: seeded N(0, 1) inputs, integer ids for inputs that
feed an Embedding, and the model's own outputs), `trainable_params` (per layer, little-endian
float32 arrays base64-encoded in 1,024-character chunks, kernels reordered as listed in
`weights_of`) and `hash` (SHA-256 over the layer names and weight bytes, in order).
"""
import argparse
import base64
import hashlib
import json
import sys

import numpy as np

CHUNK = 1024


def encode(array):
    """float32 little-endian bytes → base64 text in 1,024-character chunks."""
    text = base64.b64encode(np.ascontiguousarray(array, dtype="<f4").tobytes()).decode("ascii")
    return [text[i:i + CHUNK] for i in range(0, len(text), CHUNK)] or [""]


def weights_of(layer):
    """The named weight arrays of one layer, in the stored layouts."""
    kind = type(layer).__name__
    w = [np.asarray(v) for v in layer.get_weights()]
    cfg = layer.get_config()
    if kind == "Dense":
        return {"weights": w[0], "bias": w[1]} if len(w) > 1 else {"weights": w[0]}
    if kind in ("Conv1D", "Conv2D"):
        kernel = np.transpose(w[0], (2, 0, 1) if kind == "Conv1D" else (3, 0, 1, 2))  # (out, *k, in)
        return {"weights": kernel, **({"bias": w[1]} if len(w) > 1 else {})}
    if kind == "Conv2DTranspose":
        kernel = np.transpose(w[0], (2, 0, 1, 3))  # Keras (kh, kw, out, in) → (out, kh, kw, in)
        return {"weights": kernel, **({"bias": w[1]} if len(w) > 1 else {})}
    if kind == "DepthwiseConv2D":
        return {"slice_weights": np.transpose(w[0], (2, 0, 1, 3)), **({"bias": w[1]} if len(w) > 1 else {})}
    if kind == "SeparableConv2D":
        out = {"slice_weights": np.transpose(w[0], (2, 0, 1, 3)), "stack_weights": np.transpose(w[1], (3, 0, 1, 2))}
        return {**out, **({"bias": w[2]} if len(w) > 2 else {})}
    if kind == "BatchNormalization":
        names = (["gamma"] if cfg.get("scale", True) else []) + (["beta"] if cfg.get("center", True) else [])
        names += ["moving_mean", "moving_variance"]
        return dict(zip(names, w))
    if kind == "LayerNormalization":
        names = (["gamma"] if cfg.get("scale", True) else []) + (["beta"] if cfg.get("center", True) else [])
        return dict(zip(names, w))
    if kind == "Normalization":
        return {"mean": w[0].reshape(-1), "variance": w[1].reshape(-1)}
    if kind == "Embedding":
        return {"weights": w[0]}
    if kind == "PReLU":
        return {"alpha": w[0].reshape(-1)}
    if kind in ("SimpleRNN", "LSTM", "GRU"):
        return dict(zip(["weights", "recurrent_weights", "bias"], w))
    if kind == "Bidirectional":
        half = len(w) // 2
        names = ["weights", "recurrent_weights", "bias"]
        return {**{"forward_" + n: a for n, a in zip(names, w[:half])}, **{"backward_" + n: a for n, a in zip(names, w[half:])}}
    if kind == "MultiHeadAttention":
        return {"weight_shapes": [list(a.shape) for a in w], "weights": w}
    if w:
        raise SystemExit(f"layer '{layer.name}' ({kind}) has weights this converter does not know how to store")
    return {}


def collect(model, prefix, out):
    """Every layer's weights, nested models' layers as `outer_inner`."""
    import keras

    for layer in model.layers:
        name = prefix + layer.name
        if isinstance(layer, keras.Model):
            collect(layer, name + "_", out)
        elif type(layer).__name__ == "TimeDistributed" and isinstance(layer.layer, keras.Model):
            out[name] = {"td_input_len": np.array([len(layer.input.shape) - 1], np.float32),
                         "td_output_len": np.array([len(layer.output.shape) - 1], np.float32)}
            collect(layer.layer, name + "_", out)
        else:
            weights = weights_of(layer)
            if weights:
                out[name] = weights


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model")
    ap.add_argument("out")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    import keras

    model = keras.models.load_model(args.model, compile=False)
    if keras.config.image_data_format() != "channels_last":
        raise SystemExit("only channels_last models are supported")
    if isinstance(model, keras.Sequential):
        # A Functional graph with the same layers, so that the architecture lists call sites.
        inputs = keras.Input(batch_shape=model.inputs[0].shape, dtype=model.inputs[0].dtype)
        x = inputs
        for layer in model.layers:
            x = layer(x)
        model = keras.Model(inputs, x, name=model.name)
    if keras.backend.backend() != "tensorflow":
        for layer in model.layers:
            cfg = layer.get_config()
            if type(layer).__name__ == "Conv2DTranspose" and cfg.get("padding") == "same" and any(
                    ((k - 1) * d + 1 - s) % 2 for k, s, d in zip(cfg["kernel_size"], cfg["strides"], cfg["dilation_rate"])):
                print(f"warning: layer '{layer.name}': with padding 'same' and an odd kernel − stride, Keras's "
                      f"{keras.backend.backend()} backend shifts Conv2DTranspose's output by a pixel against TensorFlow, "
                      "whose alignment Touchstone follows; the embedded test will not match", file=sys.stderr)
    rng = np.random.default_rng(args.seed)
    embedding_inputs = {id(layer.input) for layer in model.layers if type(layer).__name__ == "Embedding"}
    feeds = []
    for t in model.inputs:
        shape = [1] + [d if d is not None else 32 for d in t.shape[1:]]
        if id(t) in embedding_inputs:
            vocab = next(l.input_dim for l in model.layers if type(l).__name__ == "Embedding" and l.input is t)
            feeds.append(rng.integers(0, vocab, shape).astype(np.float32))
        else:
            feeds.append(rng.standard_normal(shape).astype(np.float32))
    outputs = model.predict(feeds if len(feeds) > 1 else feeds[0], verbose=0)
    outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
    params = {}
    collect(model, "", params)
    digest = hashlib.sha256()
    stored = {}
    for name, weights in params.items():
        digest.update(name.encode())
        entry = {}
        for key, value in weights.items():
            if key == "weight_shapes":
                entry[key] = value
            elif isinstance(value, list):
                entry[key] = [encode(a) for a in value]
                for a in value:
                    digest.update(np.ascontiguousarray(a, dtype="<f4").tobytes())
            else:
                entry[key] = encode(value)
                digest.update(np.ascontiguousarray(value, dtype="<f4").tobytes())
        stored[name] = entry
    document = {
        "architecture": json.loads(model.to_json()),
        "image_data_format": "channels_last",
        "input_shapes": [list(t.shape[1:]) for t in model.inputs],
        "output_shapes": [list(t.shape[1:]) for t in model.outputs],
        "tests": [{
            "inputs": [{"shape": list(a.shape[1:]), "values": encode(a)} for a in feeds],
            "outputs": [{"shape": list(np.asarray(o).shape[1:]), "values": encode(np.asarray(o))} for o in outputs],
        }],
        "trainable_params": stored,
        "hash": digest.hexdigest(),
    }
    with open(args.out, "w") as f:
        json.dump(document, f)
    print(f"wrote {args.out}: {len(model.layers)} layers, {sum(a.size for w in params.values() for k, a in w.items() if k != 'weight_shapes' and not isinstance(a, list))} weights in arrays", file=sys.stderr)


if __name__ == "__main__":
    main()
