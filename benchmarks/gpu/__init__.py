"""`python -m benchmarks gpu`: one prepared call that checks and times everything GPU-specific (issue 29).

(a) the device's accuracy matrix against the CPU's, repeatability and kill-and-resume on the
device; (b) bf16 + channels_last against fp32; (c) `--nproc 1` and 2 with one memory digest;
(d) the step loop against bare forward/backward, with and without torch.compile, and the host
synchronisations per step; (e) the projected wall time of `cifar100-b0-inc10`; (f) the encoded
(ImageNet) data path's decode rate when this version has one. docs/gpu.md says how to run it.
"""
