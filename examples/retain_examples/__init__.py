"""retain's extension examples: a method (LwF), a memory policy (k-center), a backbone (tiny-cnn), a dataset (shapes).

Importing this package registers all four; installed with pip, its `retain.plugins` entry point
makes retain import it in every process, so no `imports:` is needed.
"""

from retain_examples import kcenter, lwf, shapes, tiny_cnn  # noqa: F401  (importing registers them)
