"""Held-out check of the Keras loader on Keras's application architectures.

Builds each architecture (no pretrained weights: seeded initialisation, with BatchNormalization
statistics and scales perturbed so that no BN layer is the identity), converts it with
Tools/keras2touchstone.py (the embedded test case is Keras's own output) and runs
`touchstone verify` on the result. Files go to ModelZoo/generated/keras-applications/ (not committed:
tens to hundreds of MB each).

    python3 ModelZoo/scripts/check_keras_applications.py [--backend torch|tensorflow] [--models ResNet50,...]
        [--size N --classes K]     (e.g. --models VGG16 --size 224 --classes 1000: the 740 MB file of
                                    the loading benchmark in Benchmarks/RESULTS.md)

Needs keras==3.14.0 and torch (requirements.txt); --backend tensorflow also tensorflow-cpu==2.21.0.
NASNetMobile is offered by the TensorFlow backend only.
"""
import argparse
import os
import subprocess
import sys

SIZES = {"ResNet50": 64, "MobileNetV2": 96, "DenseNet121": 64, "EfficientNetB0": 64, "InceptionV3": 75,
         "Xception": 71, "NASNetMobile": 64, "VGG16": 32}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--backend", default="torch")
    ap.add_argument("--models", default=",".join(SIZES))
    ap.add_argument("--touchstone", default=".build/release/touchstone")
    ap.add_argument("--size", type=int, help="input size (default: each architecture's small size)")
    ap.add_argument("--classes", type=int, default=10)
    args = ap.parse_args()
    os.environ["KERAS_BACKEND"] = args.backend
    import keras
    import numpy as np

    import zoo

    root = os.path.dirname(zoo.ZOO)
    out = os.path.join(zoo.GENERATED, "keras-applications")
    os.makedirs(out, exist_ok=True)
    failures = 0
    for name in args.models.split(","):
        size = args.size or SIZES[name]
        keras.utils.set_random_seed(0)
        try:
            model = getattr(keras.applications, name)(weights=None, input_shape=(size, size, 3), classes=args.classes)
        except ValueError as e:  # an architecture a backend does not offer
            print(f"skip {name}: {e}")
            continue
        rng = np.random.default_rng(0)
        for layer in model.layers:
            w = layer.get_weights()
            if type(layer).__name__ == "BatchNormalization" and len(w) == 4:
                layer.set_weights([rng.uniform(0.5, 1.5, a.shape).astype(np.float32) if i in (0, 3)
                                   else (rng.standard_normal(a.shape) * 0.1).astype(np.float32) for i, a in enumerate(w)])
        tag = "" if args.size is None and args.classes == 10 else f"_{size}_{args.classes}"
        source = os.path.join(out, f"{name}{tag}.keras")
        target = os.path.join(out, f"{name}{tag}_{args.backend}.json")
        model.save(source)
        subprocess.run([sys.executable, os.path.join(root, "Tools", "keras2touchstone.py"), source, target], check=True)
        result = subprocess.run([os.path.join(root, args.touchstone), "verify", target], capture_output=True, text=True)
        print(f"{name} ({size}x{size}, {args.backend}): {result.stdout.strip().splitlines()[0] if result.stdout else result.stderr.strip()}", flush=True)
        failures += result.returncode != 0
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
