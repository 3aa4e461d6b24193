"""Exports transformer models from `transformers` and `timm` to ONNX, as a new user would (seeded
default-config weights, the legacy exporter, dynamic batch and sequence axes), with valid inputs.

Encoders with attention masks (BERT-base at opset 14, where LayerNorm and GELU are written out as
ReduceMean/Pow/Sqrt/Div and Erf; DistilBERT; a T5-small encoder with its RMS norm and relative
position buckets; a BART-base encoder), GPT-2 (12 layers, width 768) as a 128-token prefill with a
causal and padding mask, and as one decoding step over 127 past keys/values (the presents are
outputs), and timm's DeiT-small. Too large to commit: written to ModelZoo/generated/transformers/,
with MODEL_b1.npz and MODEL_b8.npz holding the inputs (token ids drawn over the vocabulary, the
last tokens of some rows masked as padding, token types 0/1, past keys/values standard normal)
that both runtimes are timed on.

    python3 ModelZoo/scripts/make_transformers.py [--models bert_base,...]
    python3 ModelZoo/scripts/make_transformers.py --check .build/release/touchstone
    python3 Benchmarks/compare_onnxruntime.py --model-dir ModelZoo/generated/transformers --feeds --models bert_base,...

--check runs every exported model through `touchstone run` on its batch-1 and batch-8 inputs and compares each
output with onnxruntime's: the largest difference relative to the output's peak magnitude.
"""
import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch

import zoo

OUT = os.path.join(zoo.GENERATED, "transformers")
SEQ = 128
PAST = 127


class LastHidden(torch.nn.Module):
    """A `transformers` model's last hidden state alone, from its named inputs."""

    def __init__(self, model, names):
        super().__init__()
        self.model, self.names = model, names

    def forward(self, *args):
        return self.model(**dict(zip(self.names, args))).last_hidden_state


class GPT2Step(torch.nn.Module):
    """GPT-2 with past keys/values as flat inputs and the presents as flat outputs."""

    def __init__(self, model, layers):
        super().__init__()
        self.model, self.layers = model, layers

    def forward(self, input_ids, attention_mask, *past):
        pairs = tuple((past[2 * i], past[2 * i + 1]) for i in range(self.layers))
        out = self.model(input_ids=input_ids, attention_mask=attention_mask, past_key_values=pairs, use_cache=True)
        presents = out.past_key_values
        if hasattr(presents, "to_legacy_cache"):
            presents = presents.to_legacy_cache()
        return (out.last_hidden_state,) + tuple(t for pair in presents for t in pair)


def token_feeds(batch, seq, vocab, names, rng):
    """Token ids over the vocabulary; rows after the first end in 0–seq/4 padding tokens."""
    ids = rng.integers(0, vocab, size=(batch, seq), dtype=np.int64)
    mask = np.ones((batch, seq), np.int64)
    for b in range(1, batch):
        pad = int(rng.integers(0, seq // 4 + 1))
        if pad:
            mask[b, -pad:] = 0
    feeds = {"input_ids": ids, "attention_mask": mask}
    if "token_type_ids" in names:
        types = np.zeros((batch, seq), np.int64)
        types[:, seq // 2:] = 1
        feeds["token_type_ids"] = types
    return {k: feeds[k] for k in names}


def build(name):
    """(module, input names, output names, dynamic axes, feeds(batch, rng), opset)."""
    zoo.import_torchvision()  # transformers and timm import torchvision, whose compiled operators fail with torch's CPU build
    import transformers as tf

    seq_axes = {0: "batch", 1: "sequence"}
    if name in ("bert_base", "distilbert_base", "t5_small_encoder", "bart_base_encoder"):
        if name == "bert_base":
            model, names, opset = tf.BertModel(tf.BertConfig()), ["input_ids", "attention_mask", "token_type_ids"], 14
        elif name == "distilbert_base":
            model, names, opset = tf.DistilBertModel(tf.DistilBertConfig()), ["input_ids", "attention_mask"], 17
        elif name == "t5_small_encoder":
            config = tf.T5Config(d_model=512, d_kv=64, d_ff=2048, num_layers=6, num_heads=8)
            model, names, opset = tf.T5EncoderModel(config), ["input_ids", "attention_mask"], 17
        else:
            config = tf.BartConfig(d_model=768, encoder_layers=6, decoder_layers=6, encoder_attention_heads=12,
                                   decoder_attention_heads=12, encoder_ffn_dim=3072, decoder_ffn_dim=3072)
            model, names, opset = tf.BartModel(config).get_encoder(), ["input_ids", "attention_mask"], 17
        vocab = model.config.vocab_size
        axes = {n: seq_axes for n in names} | {"last_hidden_state": {0: "batch", 1: "sequence"}}
        return (LastHidden(model.eval(), names), names, ["last_hidden_state"], axes,
                lambda batch, rng: token_feeds(batch, SEQ, vocab, names, rng), opset)
    if name in ("gpt2", "gpt2_past"):
        config = tf.GPT2Config()
        model = tf.GPT2Model(config).eval()
        layers, heads, width = config.n_layer, config.n_head, config.n_embd
        if name == "gpt2":
            names = ["input_ids", "attention_mask"]
            axes = {n: seq_axes for n in names} | {"last_hidden_state": seq_axes}
            return (LastHidden(model, names), names, ["last_hidden_state"], axes,
                    lambda batch, rng: token_feeds(batch, SEQ, config.vocab_size, names, rng), 17)
        past_names = [f"past_{i}_{kv}" for i in range(layers) for kv in ("key", "value")]
        present_names = [f"present_{i}_{kv}" for i in range(layers) for kv in ("key", "value")]
        names = ["input_ids", "attention_mask"] + past_names
        axes = {"input_ids": {0: "batch"}, "attention_mask": {0: "batch", 1: "total"}, "last_hidden_state": {0: "batch"}}
        axes |= {n: {0: "batch", 2: "past"} for n in past_names} | {n: {0: "batch", 2: "total"} for n in present_names}

        def feeds(batch, rng):
            f = token_feeds(batch, PAST + 1, config.vocab_size, ["input_ids", "attention_mask"], rng)
            f["input_ids"] = f["input_ids"][:, -1:]
            f["attention_mask"][:, -1] = 1  # the new token is never padding
            for n in past_names:
                f[n] = rng.standard_normal((batch, heads, PAST, width // heads)).astype(np.float32)
            return f
        return GPT2Step(model, layers), names, ["last_hidden_state"] + present_names, axes, feeds, 17
    if name == "deit_small":
        import timm
        model = timm.create_model("deit_small_patch16_224", pretrained=False).eval()
        axes = {"input": {0: "batch"}, "output": {0: "batch"}}
        return (model, ["input"], ["output"], axes,
                lambda batch, rng: {"input": rng.standard_normal((batch, 3, 224, 224)).astype(np.float32)}, 17)
    raise SystemExit(f"unknown model {name}: one of {', '.join(ALL)}")


ALL = ["bert_base", "distilbert_base", "t5_small_encoder", "bart_base_encoder", "gpt2", "gpt2_past", "deit_small"]


def export(name):
    torch.manual_seed(0)
    module, names, outputs, axes, feeds, opset = build(name)
    path = os.path.join(OUT, name + ".onnx")
    example = feeds(1, np.random.default_rng(1))
    args = tuple(torch.from_numpy(example[n]) for n in names)
    # Not under no_grad: there, eval-mode attention may take fused fast paths the exporter cannot write.
    torch.onnx.export(module, args, path, dynamo=False, opset_version=opset, input_names=names,
                      output_names=outputs, dynamic_axes=axes)
    for batch in (1, 8):
        np.savez(os.path.join(OUT, f"{name}_b{batch}.npz"), **feeds(batch, np.random.default_rng(batch)))
    print(f"exported {name} (opset {opset}, {os.path.getsize(path) / 1e6:.0f} MB, inputs {', '.join(names[:3])}"
          f"{'…' if len(names) > 3 else ''})", flush=True)


def check(touchstone, name, batch):
    path = os.path.join(OUT, name + ".onnx")
    feeds_path = os.path.join(OUT, f"{name}_b{batch}.npz")
    feeds = dict(np.load(feeds_path))
    reference = zoo.ort_run(path, feeds)
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "out.npz")
        subprocess.run([touchstone, "run", path, "--load-inputs", feeds_path, "--save-outputs", out, "--threads", "1"],
                       check=True, capture_output=True)
        got = dict(np.load(out))
    worst = 0.0
    for k, r in reference.items():
        r = np.asarray(r, np.float64)
        c = np.asarray(got[k], np.float64)
        assert c.shape == r.shape, f"{name} {k}: shape {c.shape}, onnxruntime {r.shape}"
        worst = max(worst, float(np.abs(c - r).max() / max(np.abs(r).max(), 1e-30)))
    print(f"{name} batch {batch}: {len(reference)} outputs, largest difference {worst:.2e} of the peak", flush=True)
    return worst


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default=",".join(ALL))
    ap.add_argument("--check", metavar="TOUCHSTONE", help="compare touchstone run with onnxruntime instead of exporting")
    ap.add_argument("--tol", type=float, default=5e-4, help="largest difference allowed, relative to each output's peak")
    args = ap.parse_args()
    os.makedirs(OUT, exist_ok=True)
    failed = []
    for name in args.models.split(","):
        if args.check:
            for batch in (1, 8):
                if check(args.check, name, batch) > args.tol:
                    failed.append(f"{name} batch {batch}")
        else:
            export(name)
    if failed:
        sys.exit(f"beyond {args.tol} of the peak: {', '.join(failed)}")


if __name__ == "__main__":
    main()
