"""Read Fashion-MNIST from the gzipped IDX files of Debian's dataset-fashion-mnist."""
import gzip
import os
import struct

import numpy as np

DATA_DIR = os.environ.get("NTK_DEMO_DATA", "/usr/share/datasets/fashion-mnist")

# Label k of the IDX files is CLASSES[k].
CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
           "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]

_FILES = {"train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
          "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")}


def _read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    zero, dtype, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or dtype != 0x08:
        raise ValueError(f"{path}: not an unsigned-byte IDX file")
    shape = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    arr = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if arr.size != int(np.prod(shape)):
        raise ValueError(f"{path}: expected {shape}, found {arr.size} values")
    return arr.reshape(shape)


def load_split(split, limit=None):
    """(X, y): X float64 (n, 784) with pixels in [0, 1], y int (n,) in 0..9.

    limit takes the first `limit` images of the split (the files' order).
    """
    img_file, lab_file = _FILES[split]
    images = _read_idx(os.path.join(DATA_DIR, img_file))
    labels = _read_idx(os.path.join(DATA_DIR, lab_file))
    if images.shape[0] != labels.shape[0]:
        raise ValueError(f"{split}: {images.shape[0]} images but {labels.shape[0]} labels")
    if limit is not None:
        images, labels = images[:limit], labels[:limit]
    X = images.reshape(images.shape[0], -1).astype(np.float64) / 255.0
    return X, labels.astype(np.int64)
