#!/usr/bin/env bash
# Regenerates onnx.pb.swift from the onnx.proto that ships inside the pinned onnx wheel.
#
# Needs: protoc (Debian: protobuf-compiler), python3 with pip, and protoc-gen-swift built from
# swift-protobuf at the version Package.swift names (swift build -c release --product protoc-gen-swift
# in a checkout of it; pass its path as PROTOC_GEN_SWIFT).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
ONNX_VERSION=1.23.2
: "${PROTOC_GEN_SWIFT:?set PROTOC_GEN_SWIFT to the protoc-gen-swift binary}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 -m pip download --quiet --no-deps --only-binary=:all: -d "$work" "onnx==$ONNX_VERSION"
(cd "$work" && python3 -m zipfile -e onnx-*.whl unpacked >/dev/null)
cp "$work/unpacked/onnx/onnx.proto" "$work/onnx.proto"
protoc --plugin=protoc-gen-swift="$PROTOC_GEN_SWIFT" --swift_opt=Visibility=Internal \
  --proto_path="$work" --swift_out="$here" "$work/onnx.proto"
echo "wrote $here/onnx.pb.swift from onnx $ONNX_VERSION's onnx.proto"
