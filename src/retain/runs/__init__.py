"""One run: the config checked against the registries, the resolved RunSpec (plan, budget in bytes,
method), the run loop, its directory, checkpoints and results, and running it on N local processes."""
