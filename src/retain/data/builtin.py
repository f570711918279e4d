"""The built-in dataset sources, registered through the public door (`register_dataset`)."""

from __future__ import annotations

from retain.data.cifar import load_cifar
from retain.data.digits import load_digits
from retain.data.huggingface import load_hf
from retain.data.imagefolder import load_imagefolder
from retain.data.imagenet import TRAIN_IMAGES, VAL_IMAGES, imagenet_classes, load_imagenet
from retain.data.mnist import load_mnist_like
from retain.data.registry import register_dataset
from retain.data.tinyimagenet import load_tiny_imagenet

# `reads`: the data.* settings each source reads (a user's value for another one is refused).
_FILES = ("dir", "download", "mirror")  # a given dir is the only place looked at; else system dirs, the cache, a download
register_dataset("digits", image_shape=(1, 8, 8), num_classes=10, reads=())(load_digits)  # bundled with scikit-learn
register_dataset("mnist", image_shape=(1, 28, 28), num_classes=10, split_sizes=(60000, 10000), reads=_FILES)(load_mnist_like)
register_dataset("fashion-mnist", image_shape=(1, 28, 28), num_classes=10, split_sizes=(60000, 10000),
                 reads=_FILES)(load_mnist_like)
register_dataset("cifar10", image_shape=(3, 32, 32), num_classes=10, split_sizes=(50000, 10000), reads=_FILES)(load_cifar)
register_dataset("cifar100", image_shape=(3, 32, 32), num_classes=100, split_sizes=(50000, 10000), reads=_FILES)(load_cifar)
register_dataset("tiny-imagenet", image_shape=(3, 64, 64), num_classes=200, resizable=True,
                 split_sizes=(100000, 10000), reads=_FILES)(load_tiny_imagenet)
register_dataset("imagenet", image_shape=(3, 224, 224), num_classes=1000, resizable=True, split_sizes=(TRAIN_IMAGES, VAL_IMAGES),
                 classes=imagenet_classes, dry_run_loads=False, reads=("dir",))(load_imagenet)
register_dataset("imagefolder", resizable=True, reads=("dir",))(load_imagefolder)
register_dataset("hf", resizable=True, reads=("path",))(load_hf)
