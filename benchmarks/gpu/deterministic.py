"""Imported by a retain run (`imports:`) to ask for deterministic kernels on the GPU.

retain has no setting for this; the GPU check uses it only when two uninterrupted runs on the
device differ (non-deterministic cuDNN/cuBLAS kernels or atomics), to tell whether resume itself is
bit-exact once the kernels are. `warn_only`: an operation without a deterministic version warns
instead of stopping the run (the warnings land in the run's log).
"""

import os

os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # read when cuBLAS makes its workspace

import torch  # noqa: E402

torch.use_deterministic_algorithms(True, warn_only=True)
torch.backends.cudnn.benchmark = False
torch.backends.cudnn.deterministic = True
