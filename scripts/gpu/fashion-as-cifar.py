#!/usr/bin/env python3
"""Writes Fashion-MNIST as CIFAR-10 binary batches: each 28x28 image padded with zeros to
32x32 and repeated over 3 channels, one label byte then 1024 R, 1024 G, 1024 B bytes per
record (the format of cifar-10-binary.tar.gz). Real images at CIFAR's shape, for a GPU
smoke run where CIFAR itself cannot be carried.

usage: fashion-as-cifar.py FASHION_DIR OUT_DIR TRAIN_PER_BATCH TEST_RECORDS
FASHION_DIR holds the four uncompressed IDX files (`ballast data fetch fashion-mnist`).
OUT_DIR/cifar-10-batches-bin/ receives data_batch_1..5.bin (TRAIN_PER_BATCH records each,
consecutive training images) and test_batch.bin."""
import os
import struct
import sys


def idx(path, magic):
    with open(path, "rb") as f:
        data = f.read()
    (m,) = struct.unpack(">I", data[:4])
    if m != magic:
        sys.exit(f"{path}: magic {m:#x}, expected {magic:#x}")
    header = 16 if magic == 0x803 else 8
    return data[header:]


def records(images, labels, start, n):
    out = bytearray()
    for i in range(start, start + n):
        img = images[i * 784 : (i + 1) * 784]
        if len(img) != 784:
            sys.exit(f"only {i} images available, asked for {start + n}")
        padded = bytearray(1024)
        for r in range(28):
            padded[(r + 2) * 32 + 2 : (r + 2) * 32 + 30] = img[r * 28 : (r + 1) * 28]
        out.append(labels[i])
        out += padded * 3
    return bytes(out)


def main():
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    src, dst, per_batch, n_test = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    train_x = idx(os.path.join(src, "train-images-idx3-ubyte"), 0x803)
    train_y = idx(os.path.join(src, "train-labels-idx1-ubyte"), 0x801)
    test_x = idx(os.path.join(src, "t10k-images-idx3-ubyte"), 0x803)
    test_y = idx(os.path.join(src, "t10k-labels-idx1-ubyte"), 0x801)
    folder = os.path.join(dst, "cifar-10-batches-bin")
    os.makedirs(folder, exist_ok=True)
    for b in range(5):
        with open(os.path.join(folder, f"data_batch_{b + 1}.bin"), "wb") as f:
            f.write(records(train_x, train_y, b * per_batch, per_batch))
    with open(os.path.join(folder, "test_batch.bin"), "wb") as f:
        f.write(records(test_x, test_y, 0, n_test))
    print(f"{folder}: {5 * per_batch} training and {n_test} test records")


if __name__ == "__main__":
    main()
