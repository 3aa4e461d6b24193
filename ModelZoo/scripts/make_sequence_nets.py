"""Recurrent networks for ModelZoo/nets/: PyTorch's nn.LSTM, nn.GRU and nn.RNN exported to ONNX,
and LSTM/GRU/RNN nodes built with onnx's helper for what PyTorch never exports (sequence_lens,
peepholes, clip, input_forget, GRU without linear_before_reset, other activations). Seeded weights
and inputs; the expected outputs are onnxruntime's (zoo.write_entry). Each model is a few kB.

    python3 ModelZoo/scripts/make_sequence_nets.py

Also a control-flow model built with onnx's helper: a Loop whose body reads the enclosing graph's
weights and nests an If, then an If on a value computed from the input.
"""
import os

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper, numpy_helper
from torch import nn

import zoo


class Tagger(nn.Module):
    """Token embeddings, a two-layer bidirectional LSTM (batch first), a per-token classifier."""

    def __init__(self, vocab=50, d=16, hidden=12, tags=5):
        super().__init__()
        self.embed = nn.Embedding(vocab, d)
        self.lstm = nn.LSTM(d, hidden, num_layers=2, bidirectional=True, batch_first=True)
        self.out = nn.Linear(2 * hidden, tags)

    def forward(self, ids):
        y, _ = self.lstm(self.embed(ids))
        return self.out(y)


class GruEncoder(nn.Module):
    """A GRU over time-major features with a given initial state; the sequence and the last state."""

    def __init__(self, features=10, hidden=8):
        super().__init__()
        self.gru = nn.GRU(features, hidden, num_layers=2)

    def forward(self, x, h0):
        return self.gru(x, h0)


class ReluRnn(nn.Module):
    """An Elman RNN with ReLU, then the last step's state through a linear layer."""

    def __init__(self, features=6, hidden=9):
        super().__init__()
        self.rnn = nn.RNN(features, hidden, nonlinearity="relu", batch_first=True)
        self.head = nn.Linear(hidden, 3)

    def forward(self, x):
        y, h = self.rnn(x)
        return self.head(h[-1])


class SpectrogramClassifier(nn.Module):
    """A torch.stft front end (Hann window, exported as STFT at opset 17), log power, a linear layer
    per frame and a GRU over the frames."""

    def __init__(self, n_fft=64, hop=16, hidden=8):
        super().__init__()
        self.n_fft, self.hop = n_fft, hop
        self.register_buffer("window", torch.hann_window(n_fft))
        self.proj = nn.Linear(n_fft // 2 + 1, 12)
        self.gru = nn.GRU(12, hidden, batch_first=True)

    def forward(self, audio):
        spec = torch.stft(audio, self.n_fft, self.hop, window=self.window, center=False, return_complex=False)
        power = (spec ** 2).sum(-1).transpose(1, 2)
        y, _ = self.gru(self.proj(torch.log(power + 1e-3)))
        return y


def torch_nets():
    """(name, opset, module class (built after seeding), feeds for (rng, batch, steps), input names, output names, dynamic axes, feed sets)."""
    def ids(rng, b, s):
        return {"ids": rng.integers(0, 50, (b, s)).astype(np.int64)}

    def gru_feeds(rng, b, s):
        return {"x": rng.standard_normal((s, b, 10)).astype(np.float32), "h0": (0.5 * rng.standard_normal((2, b, 8))).astype(np.float32)}

    def rnn_feeds(rng, b, s):
        return {"x": rng.standard_normal((b, s, 6)).astype(np.float32)}
    return [
        ("lstm_tagger_o14", 14, Tagger, ids, ["ids"], ["tags"], {"ids": {0: "batch", 1: "seq"}, "tags": {0: "batch", 1: "seq"}},
         [(1, 7), (3, 11)]),
        ("gru_encoder_o17", 17, GruEncoder, gru_feeds, ["x", "h0"], ["y", "h_n"],
         {"x": {0: "seq", 1: "batch"}, "h0": {1: "batch"}, "y": {0: "seq", 1: "batch"}, "h_n": {1: "batch"}}, [(2, 6), (1, 13)]),
        ("rnn_relu_o13", 13, ReluRnn, rnn_feeds, ["x"], ["logits"], {"x": {0: "batch", 1: "seq"}, "logits": {0: "batch"}},
         [(2, 5), (4, 9)]),
        ("stft_gru_o17", 17, SpectrogramClassifier, lambda rng, b, s: {"audio": rng.standard_normal((b, s)).astype(np.float32)},
         ["audio"], ["features"], {"audio": {0: "batch", 1: "samples"}, "features": {0: "batch", 1: "frames"}}, [(2, 256), (1, 400)]),
    ]


def helper_net(rng, name, op, hidden, features, attrs, peepholes=False):
    """One bidirectional recurrent node (time-major: onnxruntime has no layout 1, which the node
    tests cover) with sequence_lens, initial states and (LSTM) peepholes; weights as initializers."""
    gates = {"LSTM": 4, "GRU": 3, "RNN": 1}[op]
    d = 2
    inits = [
        numpy_helper.from_array((0.4 * rng.standard_normal((d, gates * hidden, features))).astype(np.float32), "W"),
        numpy_helper.from_array((0.4 * rng.standard_normal((d, gates * hidden, hidden))).astype(np.float32), "R"),
        numpy_helper.from_array((0.2 * rng.standard_normal((d, 2 * gates * hidden))).astype(np.float32), "B"),
    ]
    inputs = ["X", "W", "R", "B", "lens", "h0"]
    graph_inputs = [
        helper.make_tensor_value_info("X", TensorProto.FLOAT, ["seq", "batch", features]),
        helper.make_tensor_value_info("lens", TensorProto.INT32, ["batch"]),
        helper.make_tensor_value_info("h0", TensorProto.FLOAT, [d, "batch", hidden]),
    ]
    outputs = ["Y", "Y_h"]
    if op == "LSTM":
        inputs.append("c0")
        graph_inputs.append(helper.make_tensor_value_info("c0", TensorProto.FLOAT, [d, "batch", hidden]))
        outputs.append("Y_c")
        if peepholes:
            inputs.append("P")
            inits.append(numpy_helper.from_array((0.3 * rng.standard_normal((d, 3 * hidden))).astype(np.float32), "P"))
    node = helper.make_node(op, inputs, outputs, hidden_size=hidden, direction="bidirectional", **attrs)
    graph = helper.make_graph(
        [node], name, graph_inputs,
        [helper.make_tensor_value_info(o, TensorProto.FLOAT, ["seq", d, "batch", hidden] if o == "Y" else [d, "batch", hidden])
         for o in outputs], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def helper_feeds(op, features, hidden):
    def feeds(rng, b, s):
        f = {"X": rng.standard_normal((s, b, features)).astype(np.float32),
             "lens": rng.integers(1, s + 1, b).astype(np.int32),
             "h0": (0.5 * rng.standard_normal((2, b, hidden))).astype(np.float32)}
        f["lens"][0] = s  # one full-length sequence
        if op == "LSTM":
            f["c0"] = (0.5 * rng.standard_normal((2, b, hidden))).astype(np.float32)
        return f
    return feeds


HELPER_NETS = [
    # (name, op, hidden, features, attributes, peepholes)
    ("lstm_peephole_clip_o14", "LSTM", 6, 5, {"clip": 2.5}, True),
    ("lstm_input_forget_o14", "LSTM", 4, 3, {"input_forget": 1, "activations": ["HardSigmoid", "Tanh", "Softsign"] * 2}, False),
    ("gru_reset_before_o14", "GRU", 7, 4, {"linear_before_reset": 0}, False),
    ("gru_reset_after_o14", "GRU", 5, 4, {"linear_before_reset": 1, "activations": ["Sigmoid", "Tanh", "HardSigmoid", "Elu"],
                                          "activation_alpha": [0.3, 0.7], "activation_beta": [0.4]}, False),
    ("rnn_scaled_tanh_o14", "RNN", 6, 4, {"activations": ["ScaledTanh", "Affine"], "activation_alpha": [0.9, 0.5],
                                          "activation_beta": [1.2, 0.1]}, False),
]


def control_flow_net(rng):
    """A Loop of M steps carrying a state h: each step h = Tanh(h·W + b) with W and b read from the
    enclosing graph, then, by an If on the step number's parity nested in the body, either kept or
    negated; every step's h is a scan output. Then an If on the input's sign picks Relu or Abs of
    the result (the branch's inputs read from the main graph)."""
    d = 6
    W = numpy_helper.from_array((0.6 * rng.standard_normal((d, d))).astype(np.float32), "W")
    b = numpy_helper.from_array((0.1 * rng.standard_normal(d)).astype(np.float32), "b")
    two = numpy_helper.from_array(np.array(2, np.int64), "two")
    zero = numpy_helper.from_array(np.array(0, np.int64), "zero")
    keep = helper.make_graph([helper.make_node("Identity", ["h_new"], ["branch_out"])], "keep", [],
                             [helper.make_tensor_value_info("branch_out", TensorProto.FLOAT, None)])
    flip = helper.make_graph([helper.make_node("Neg", ["h_new"], ["branch_out2"])], "flip", [],
                             [helper.make_tensor_value_info("branch_out2", TensorProto.FLOAT, None)])
    body = helper.make_graph(
        [helper.make_node("MatMul", ["h_in", "W"], ["hw"]),
         helper.make_node("Add", ["hw", "b"], ["pre"]),
         helper.make_node("Tanh", ["pre"], ["h_new"]),
         helper.make_node("Mod", ["i", "two"], ["parity"]),
         helper.make_node("Equal", ["parity", "zero"], ["even"]),
         helper.make_node("If", ["even"], ["h_out"], then_branch=keep, else_branch=flip),
         helper.make_node("Identity", ["cond_in"], ["cond_out"]),
         helper.make_node("Identity", ["h_out"], ["h_scan"])],
        "body",
        [helper.make_tensor_value_info("i", TensorProto.INT64, []), helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
         helper.make_tensor_value_info("h_in", TensorProto.FLOAT, None)],
        [helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []), helper.make_tensor_value_info("h_out", TensorProto.FLOAT, None),
         helper.make_tensor_value_info("h_scan", TensorProto.FLOAT, None)])
    relu = helper.make_graph([helper.make_node("Relu", ["h_final"], ["picked"])], "relu", [],
                             [helper.make_tensor_value_info("picked", TensorProto.FLOAT, None)])
    absolute = helper.make_graph([helper.make_node("Abs", ["h_final"], ["picked2"])], "abs", [],
                                 [helper.make_tensor_value_info("picked2", TensorProto.FLOAT, None)])
    graph = helper.make_graph(
        [helper.make_node("Loop", ["M", "", "h0"], ["h_final", "steps"], body=body),
         helper.make_node("ReduceSum", ["h0"], ["total"], keepdims=0),
         helper.make_node("Greater", ["total", "zero_f"], ["positive"]),
         helper.make_node("If", ["positive"], ["y"], then_branch=relu, else_branch=absolute)],
        "control_flow",
        [helper.make_tensor_value_info("h0", TensorProto.FLOAT, ["batch", d]), helper.make_tensor_value_info("M", TensorProto.INT64, [])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", d]),
         helper.make_tensor_value_info("steps", TensorProto.FLOAT, ["steps", "batch", d])],
        [W, b, two, zero, numpy_helper.from_array(np.array(0, np.float32), "zero_f")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 16)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def main():
    root = os.path.join(zoo.ZOO, "nets")
    os.makedirs(os.path.join(root, "models"), exist_ok=True)
    entries = []
    for index, (name, opset, module, feeds_for, in_names, out_names, axes, feed_sets) in enumerate(torch_nets()):
        torch.manual_seed(2000 + index)
        module = module().eval()
        rng = np.random.default_rng(2000 + index)
        example = feeds_for(rng, *feed_sets[0])
        model_file = f"models/{name}.onnx"
        with torch.no_grad():
            torch.onnx.export(module, tuple(torch.from_numpy(example[k]) for k in in_names), os.path.join(root, model_file),
                              dynamo=False, opset_version=opset, input_names=in_names, output_names=out_names, dynamic_axes=axes)
        for k, (batch, steps) in enumerate(feed_sets):
            entries.append(zoo.write_entry(root, f"{name}_{k}_b{batch}_s{steps}", model_file, feeds_for(rng, batch, steps),
                                           opset=opset, extra={"batch": batch}))
        print(f"exported {name}", flush=True)
    for index, (name, op, hidden, features, attrs, peepholes) in enumerate(HELPER_NETS):
        rng = np.random.default_rng(3000 + index)
        model_file = f"models/{name}.onnx"
        onnx.save(helper_net(rng, name, op, hidden, features, attrs, peepholes), os.path.join(root, model_file))
        feeds_for = helper_feeds(op, features, hidden)
        for k, (batch, steps) in enumerate([(3, 6), (2, 9)]):
            entries.append(zoo.write_entry(root, f"{name}_{k}_b{batch}_s{steps}", model_file, feeds_for(rng, batch, steps),
                                           opset=14, extra={"batch": batch}))
        print(f"built {name}", flush=True)
    rng = np.random.default_rng(4000)
    model_file = "models/control_flow_o16.onnx"
    onnx.save(control_flow_net(rng), os.path.join(root, model_file))
    for k, (batch, steps) in enumerate([(2, 5), (3, 4)]):
        h0 = rng.standard_normal((batch, 6)).astype(np.float32)
        if k == 1:
            h0 = -np.abs(h0)  # the other branch of the outer If
        entries.append(zoo.write_entry(root, f"control_flow_o16_{k}_b{batch}_m{steps}", model_file,
                                       {"h0": h0, "M": np.array(steps, np.int64)}, opset=16, extra={"batch": batch}))
    print("built control_flow_o16", flush=True)
    zoo.update_manifest(root, entries)


if __name__ == "__main__":
    main()
