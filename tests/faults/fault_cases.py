"""The bad-input table: every way a user can get the input wrong that we know of, with what the
error must name. `{ws}` in an argument is the workspace folder (tests/faults/fault_workspace.py).

kind "refuse": exit code != 0, no traceback, every needle in the message, nothing written.
kind "notice": the input is usable but part of it is ignored; exit 0 is allowed only when the
printed text says so (every needle present), and nothing is written (all notice cases are dry runs).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

# How each input of the table ended (clear, unclear, traceback, silent-wrong); printed at the end of the session.
TALLY: Counter[str] = Counter()


@dataclass(frozen=True)
class Case:
    id: str
    argv: tuple[str, ...]
    needles: tuple[str, ...]
    kind: str = "refuse"
    subprocess: bool = False  # run through `python -m retain` (the console entry point), not in-process


def _dry(*sets: str) -> tuple[str, ...]:
    """`retain run --dry-run` with --set overrides (the digits demo preset)."""
    argv: list[str] = ["run", "--dry-run"]
    for item in sets:
        argv += ["--set", item]
    return tuple(argv)


def _set_cases() -> list[Case]:
    """--set values: wrong types (booleans included), out-of-range numbers, unknown names and keys."""
    table = [
        # booleans are never numbers
        ("bool-epochs", ["train.epochs=true"], ["train.epochs", "True", "boolean"]),
        ("bool-lr", ["train.lr=true"], ["train.lr", "boolean"]),
        ("bool-batch", ["train.batch_size=false"], ["train.batch_size", "boolean"]),
        ("bool-momentum", ["train.momentum=true"], ["train.momentum", "boolean"]),
        ("bool-weight-decay", ["train.weight_decay=true"], ["train.weight_decay", "boolean"]),
        ("bool-increment", ["scenario.increment=true"], ["scenario.increment", "boolean"]),
        ("bool-base", ["scenario.base=true"], ["scenario.base", "boolean"]),
        ("bool-seed", ["seed=true"], ["seed", "boolean"]),
        ("bool-per-class", ["memory.per_class=true"], ["memory.per_class", "boolean"]),
        ("bool-quality", ["memory.quality=true"], ["memory.quality", "boolean"]),
        ("bool-budget", ["memory.budget=true"], ["memory.budget", "True"]),
        ("bool-eval-batch", ["eval.batch_size=true"], ["eval.batch_size", "boolean"]),
        ("bool-every-epochs", ["checkpoint.every_epochs=true"], ["checkpoint.every_epochs", "boolean"]),
        ("bool-crop", ["augment.crop_padding=true"], ["augment.crop_padding", "boolean"]),
        ("bool-brightness", ["augment.brightness=true"], ["augment.brightness", "boolean"]),
        ("bool-milestones", ["train.milestones=[true]"], ["train.milestones", "boolean"]),
        ("bool-reference", ["budget.reference_exemplars=true"], ["budget.reference_exemplars", "boolean"]),
        ("bool-order", ["scenario.order=[true, false]"], ["scenario.order", "boolean"]),
        ("bool-method-param", ["method.temperature=true"], ["method.temperature", "boolean"]),
        ("bool-joint-accuracy", ["eval.joint_accuracy=true"], ["eval.joint_accuracy", "boolean"]),
        # other wrong types
        ("text-epochs", ["train.epochs=many"], ["train.epochs", "many", "integer"]),
        ("float-epochs", ["train.epochs=2.5"], ["train.epochs", "2.5"]),
        ("exp-epochs", ["train.epochs=1e9"], ["train.epochs", "1e9"]),
        ("list-lr", ["train.lr=[0.1]"], ["train.lr", "[0.1]"]),
        ("text-lr", ["train.lr=fast"], ["train.lr", "fast"]),
        ("dict-budget", ["memory.budget={a: 1}"], ["memory.budget"]),
        ("list-budget", ["memory.budget=[1]"], ["memory.budget", "[1]"]),
        ("text-quality", ["memory.quality=best"], ["memory.quality", "best", "auto"]),
        ("text-order", ["scenario.order=random"], ["scenario.order", "random", "natural"]),
        ("section-scalar", ["train=5"], ["train", "5"]),
        ("section-list", ["memory=[1]"], ["memory"]),
        ("section-null", ["data=null"], ["data"]),
        ("milestones-text", ["train.milestones=soon"], ["train.milestones", "soon"]),
        ("method-list", ["method=[1]"], ["method"]),
        ("method-number", ["method=5"], ["method"]),
        ("method-name-list", ["method.name=[icarl]"], ["method"]),
        ("options-list", ["model.options=[1]"], ["model.options"]),
        # out of range
        ("negative-epochs", ["train.epochs=-3"], ["train.epochs", "-3"]),
        ("zero-lr", ["train.lr=0"], ["train.lr", "0"]),
        ("negative-lr", ["train.lr=-0.1"], ["train.lr", "-0.1"]),
        ("momentum-one", ["train.momentum=1"], ["train.momentum", "1"]),
        ("zero-batch", ["train.batch_size=0"], ["train.batch_size", "0"]),
        ("zero-gamma", ["train.gamma=0"], ["train.gamma", "0"]),
        ("zero-threads", ["train.threads=0"], ["train.threads", "0"]),
        ("bool-threads", ["train.threads=true"], ["train.threads", "boolean"]),
        ("zero-accumulation", ["train.grad_accumulation=0"], ["train.grad_accumulation", "0"]),
        ("negative-decay", ["train.weight_decay=-1"], ["train.weight_decay", "-1"]),
        ("negative-milestone", ["train.schedule=multistep", "train.milestones=[-1]"], ["train.milestones", "-1"]),
        ("nesterov-no-momentum", ["train.nesterov=true", "train.momentum=0"], ["train.nesterov", "momentum"]),
        ("zero-increment", ["scenario.increment=0"], ["scenario.increment", "0"]),
        ("big-increment", ["scenario.increment=20"], ["scenario.increment", "20"]),
        ("big-base", ["scenario.base=20"], ["scenario.base", "20"]),
        ("zero-tasks", ["scenario.num_tasks=0"], ["scenario.num_tasks", "0"]),
        ("many-tasks", ["scenario.num_tasks=50"], ["scenario.num_tasks", "50"]),
        ("big-blurry", ["scenario.kind=blurry", "scenario.blurry=200"], ["scenario.blurry", "200"]),
        ("short-order", ["scenario.order=[0, 1, 2]"], ["scenario", "[0, 1, 2]", "permutation"]),
        ("repeated-order", ["scenario.order=[0, 0, 1, 2, 3, 4, 5, 6, 7, 8]"], ["scenario", "permutation"]),
        ("order-out-of-range", ["scenario.order=[0, 1, 2, 3, 4, 5, 6, 7, 8, 10]"], ["scenario", "permutation"]),
        ("quality-zero", ["memory.quality=0"], ["memory.quality", "0"]),
        ("quality-high", ["memory.quality=101"], ["memory.quality", "101"]),
        ("per-class-zero", ["memory.per_class=0"], ["memory.per_class", "0"]),
        ("memory-batch-zero", ["memory.batch_size=0"], ["memory.batch_size", "0"]),
        ("eval-batch-zero", ["eval.batch_size=0"], ["eval.batch_size", "0"]),
        ("joint-accuracy-high", ["eval.joint_accuracy=150"], ["eval.joint_accuracy", "150"]),
        ("cutmix-p", ["augment.cutmix_p=2"], ["augment.cutmix_p", "2"]),
        ("cutmix-alpha", ["augment.cutmix_alpha=0"], ["augment.cutmix_alpha", "0"]),
        ("cutout-negative", ["augment.cutout=-1"], ["augment.cutout", "-1"]),
        ("negative-seed", ["seed=-1"], ["seed", "-1"]),
        ("huge-seed", ["seed=1180591620717411303424"], ["seed", "1180591620717411303424"]),
        ("budget-past-64-bits", ["memory.budget=1e400"], ["memory.budget", "64-bit"]),
        ("budget-images-past-64-bits", ["memory.budget=1e400 images"], ["memory.budget", "64-bit"]),
        ("negative-order-seed", ["scenario.order_seed=-5"], ["scenario.order_seed", "-5"]),
        ("huge-order-seed", ["scenario.order_seed=99999999999"], ["scenario.order_seed", "99999999999"]),
        ("point-zero", ["budget.protocol=auc", "budget.point=0"], ["budget.point", "0"]),
        ("point-too-big", ["budget.protocol=auc", "budget.point=9"], ["budget.point", "9"]),
        ("negative-reference", ["budget.reference_exemplars=-1"], ["budget.reference_exemplars", "-1"]),
        ("negative-every-epochs", ["checkpoint.every_epochs=-1"], ["checkpoint.every_epochs", "-1"]),
        ("no-points", ["budget.protocol=auc", "budget.points=[]"], ["budget.points", "[]"]),
        # unknown names
        ("method-typo", ["method.name=fintune"], ["method.name", "fintune", "finetune"]),
        ("backbone-typo", ["model.backbone=resnet999"], ["model.backbone", "resnet999"]),
        ("policy-typo", ["memory.policy=herdin"], ["memory.policy", "herdin", "herding"]),
        ("codec-unknown", ["memory.codec=png"], ["memory.codec", "png", "jpeg"]),
        ("jpeg-backend", ["memory.codec=jpeg", "memory.jpeg_backend=libjpeg"], ["memory.jpeg_backend", "libjpeg"]),
        ("autoaugment", ["augment.autoaugment=imagenet"], ["augment.autoaugment", "imagenet", "cifar10"]),
        ("schedule", ["train.schedule=linear"], ["train.schedule", "linear", "cosine"]),
        ("scenario-kind", ["scenario.kind=domain"], ["scenario.kind", "domain", "blurry"]),
        ("stream", ["scenario.stream=batch"], ["scenario.stream", "batch", "online"]),
        ("dataset-typo", ["data.name=cifar11"], ["dataset", "cifar11", "cifar10"]),
        ("device-name", ["device=tpu"], ["device", "tpu"]),
        ("device-absent", ["device=cuda:7"], ["device", "cuda:7"]),
        ("protocol", ["budget.protocol=fairish"], ["budget.protocol", "fairish"]),
        ("reference-method", ["budget.protocol=fair", "budget.reference_method=dr"], ["budget.reference_method", "dr", "der"]),
        ("reference-backbone", ["budget.protocol=fair", "budget.reference_backbone=resnet33"], ["budget.reference_backbone", "resnet33"]),
        ("point-backbone", ["budget.protocol=auc", "budget.points=[convnet9]"], ["budget.points", "convnet9"]),
        ("backbone-option", ["model.options.hiden=[10]"], ["model.options", "hiden", "hidden"]),
        ("backbone-option-type", ["model.options.hidden=ten"], ["model.options", "hidden"]),
        # unknown keys
        ("unknown-train-key", ["train.epoch=3"], ["train.epoch", "not a known setting", "did you mean `train.epochs`"]),
        ("unknown-top-key", ["colour=red"], ["colour", "not a known setting"]),
        ("unknown-memory-key", ["memory.budgt=100"], ["memory.budgt", "not a known setting", "did you mean `memory.budget`"]),
        ("unknown-data-key", ["data.nme=digits"], ["data.nme", "not a known setting", "did you mean `data.name`"]),
        ("unknown-method-param", ["method.name=finetune", "method.T=2"], ["method.T", "not a known setting"]),
        ("scalar-becomes-section", ["train.lr.value=1"], ["train.lr"]),
        # budgets
        ("budget-text", ["memory.budget=lots"], ["memory.budget", "lots"]),
        ("budget-negative", ["memory.budget=-1"], ["memory.budget", "-1"]),
        ("budget-zero", ["memory.budget=0"], ["memory.budget", "0"]),
        ("budget-unit", ["memory.budget=5 parsecs"], ["memory.budget", "parsecs"]),
        ("budget-nan", ["memory.budget=.nan"], ["memory.budget", "nan"]),
        ("budget-inf", ["memory.budget=.inf"], ["memory.budget", "inf"]),
        ("budget-fraction", ["memory.budget=0.5"], ["memory.budget", "0.5"]),
        ("budget-tiny", ["memory.budget=1"], ["memory.budget", "1 bytes"]),
        ("budget-few-images", ["memory.budget=3 images"], ["memory.budget", "exemplar"]),
        ("fair-impossible", ["method.name=der", "model.backbone=resnet32", "model.options={}", "budget.protocol=fair",
                             "budget.reference_method=finetune", "budget.reference_exemplars=0"], ["budget", "Impossible"]),
        # settings a method cannot use
        ("memo-mlp", ["method.name=memo"], ["model.backbone", "mlp", "MEMO and DER can split", "resnet32"]),
        ("memo-mlp-fair", ["method.name=memo", "budget.protocol=fair"], ["model.backbone", "mlp", "resnet32"]),
        ("memo-reference-mlp", ["budget.protocol=fair", "budget.reference_method=memo", "budget.reference_backbone=mlp"],
         ["budget.reference_backbone", "mlp", "resnet32"]),
        ("auto-quality-icarl", ["method.name=icarl", "memory.codec=jpeg", "memory.quality=auto"], ["memory.quality", "auto", "icarl", "mrdc"]),
        ("auto-quality-replay-raw", ["method.name=replay", "memory.quality=auto"], ["memory.quality", "auto", "memory.codec"]),
        ("mrdc-raw", ["method.name=mrdc"], ["memory.codec", "raw", "jpeg"]),
        ("mrdc-grid", ["method.name=mrdc", "memory.codec=jpeg", "method.rq_grid=[200]"], ["method.rq_grid", "200"]),
        ("cutmix-bic", ["method.name=bic", "augment.cutmix=true"], ["augment.cutmix", "bic"]),
        ("auc-wrong-backbone", ["method.name=der", "budget.protocol=auc", "budget.point=1", "model.options={}"],
         ["model.backbone", "budget.points"]),
        ("scores-missing", ["method.name=maer", "method.scores_file={ws}/cfg/nowhere.npy"], ["method.scores_file", "nowhere.npy"]),
        ("scores-objects", ["method.name=maer", "method.scores_file={ws}/cfg/objects.npy"], ["method.scores_file", "objects.npy"]),
        ("scores-text", ["method.name=maer", "method.scores_file={ws}/cfg/text.npy"], ["method.scores_file", "text.npy"]),
        ("scores-strings", ["method.name=maer", "method.scores_file={ws}/cfg/strings.npy"], ["method.scores_file", "strings.npy"]),
        ("scores-short", ["method.name=maer", "method.scores_file={ws}/cfg/short.npy"], ["method.scores_file", "short.npy"]),
        ("scores-nan", ["method.name=maer", "method.scores_file={ws}/cfg/nan-scores.npy"], ["method.scores_file", "674 score(s) that are NaN"]),
        ("scores-other-data", ["method.name=maer", "method.scores_file={ws}/cfg/other-data.npy"], ["method.scores_file", "cifar10"]),
        ("scores-bad-json", ["method.name=maer", "method.scores_file={ws}/cfg/bad-json.npy"], ["bad-json.json", "not JSON"]),
        # --set syntax
        ("set-no-equals", ["train.epochs"], ["train.epochs", "dotted.key=value"]),
        ("set-empty-key", ["=5"], ["=5", "empty key"]),
        ("set-empty-part", ["train..epochs=5"], ["train..epochs", "empty key"]),
        ("set-open-bracket", ["train.milestones=[1"], ["train.milestones", "[1"]),
    ]
    cases = [Case(f"set-{name}", _dry(*sets), tuple(needles)) for name, sets, needles in table]
    cases += [
        Case("notice-finetune-codec", _dry("method.name=finetune", "memory.codec=jpeg"),
             ("finetune", "keeps no memory", "memory.codec='jpeg'", "ignored"), kind="notice"),
        Case("notice-finetune-budget", _dry("method.name=finetune", "memory.budget=500 images"),
             ("finetune", "memory.budget='500 images'", "ignored"), kind="notice"),
        Case("notice-joint-per-class", _dry("method.name=joint", "memory.budget=null", "memory.per_class=5"),
             ("joint", "memory.per_class=5", "ignored"), kind="notice"),
        Case("notice-auc-budget", _dry("budget.protocol=auc", "budget.point=1"), ("memory.budget", "not used"), kind="notice"),
        Case("auc-user-budget", _dry("budget.protocol=auc", "budget.point=1", "memory.budget=300 images"),
             ("memory.budget='300 images'", "budget.protocol = benchmark")),
    ]
    return cases


def _option_cases() -> list[Case]:
    """Command-line options and arguments of `retain run`."""
    ws = "{ws}"
    return [
        Case("opt-preset", ("run", "--preset", "nope", "--dry-run"), ("--preset", "nope", "demo")),
        Case("opt-seed-text", ("run", "--seed", "abc", "--dry-run"), ("--seed", "valid integer")),
        Case("opt-seed-negative", ("run", "--seed", "-4", "--dry-run"), ("seed", "-4")),
        Case("opt-nproc-zero", ("run", "--nproc", "0", "--dry-run"), ("distributed.nproc", "0", "greater than or equal to 1")),
        Case("opt-device", ("run", "--device", "gpu9", "--dry-run"), ("device", "gpu9")),
        Case("opt-unknown", ("run", "--epochs", "3"), ("--epochs",)),
        Case("opt-out-empty", ("run", "--out", ""), ("--out", "empty")),
        Case("opt-out-blank", ("run", "--out", "  "), ("--out", "empty")),
        Case("opt-out-file", ("run", "--out", f"{ws}/cfg/a-file"), ("--out", "a-file", "is a file")),
        Case("opt-out-under-file", ("run", "--out", f"{ws}/cfg/a-file/run"), ("--out", "a-file", "which is a file")),
        Case("opt-out-existing-run", ("run", "--out", f"{ws}/done"), ("done", "already holds a run", "--resume")),
        Case("opt-out-unwritable", ("run", "--out", "/proc/retain-fault-test/run"), ("/proc/retain-fault-test",)),
        Case("opt-out-auc-existing", ("run", "--set", "budget.protocol=auc", "--set", "method.name=finetune", "--out", f"{ws}/done"),
             ("done", "already holds")),
        Case("opt-resume-and-out", ("run", "--resume", f"{ws}/partial", "--out", "x"), ("--resume", "--out")),
        Case("opt-resume-dry", ("run", "--resume", f"{ws}/partial", "--dry-run"), ("--resume", "--dry-run")),
        Case("opt-resume-empty", ("run", "--resume", ""), ("--resume", "empty")),
        Case("opt-resume-nowhere", ("run", "--resume", f"{ws}/nowhere"), ("--resume", "nowhere", "config.yaml")),
        Case("opt-resume-file", ("run", "--resume", f"{ws}/cfg/a-file"), ("--resume", "a-file")),
        Case("opt-resume-not-run", ("run", "--resume", f"{ws}/cfg"), ("--resume", "cfg", "config.yaml")),
        Case("opt-resume-other-set", ("run", "--resume", f"{ws}/partial", "--set", "train.lr=0.5"), ("train.lr", "0.5", "does not match")),
        Case("opt-resume-other-seed", ("run", "--resume", f"{ws}/partial", "--seed", "9"), ("seed", "9", "does not match")),
        Case("opt-resume-other-preset", ("run", "--resume", f"{ws}/partial", "--preset", "fmnist-b0-inc2"), ("does not match", "data.name")),
    ]


def _file_cases() -> list[Case]:
    """Config files that are missing, not YAML, not a mapping, or repeat a key."""
    ws = "{ws}/cfg"
    return [
        Case("file-missing", ("run", f"{ws}/nowhere.yaml", "--dry-run"), ("nowhere.yaml", "does not exist")),
        Case("file-directory", ("run", f"{ws}/folder.yaml", "--dry-run"), ("folder.yaml", "directory")),
        Case("file-latin1", ("run", f"{ws}/latin1.yaml", "--dry-run"), ("latin1.yaml", "UTF-8")),
        Case("file-binary", ("run", f"{ws}/binary.yaml", "--dry-run"), ("binary.yaml",)),
        Case("file-invalid", ("run", f"{ws}/invalid.yaml", "--dry-run"), ("invalid.yaml", "not valid YAML", "line")),
        Case("file-tabs", ("run", f"{ws}/tabs.yaml", "--dry-run"), ("tabs.yaml", "not valid YAML")),
        Case("file-list", ("run", f"{ws}/list.yaml", "--dry-run"), ("list.yaml", "mapping", "list")),
        Case("file-scalar", ("run", f"{ws}/scalar.yaml", "--dry-run"), ("scalar.yaml", "mapping", "int")),
        Case("file-dup-top", ("run", f"{ws}/dup-top.yaml", "--dry-run"), ("dup-top.yaml", "train", "twice", "line 3")),
        Case("file-dup-nested", ("run", f"{ws}/dup-nested.yaml", "--dry-run"), ("dup-nested.yaml", "epochs", "twice")),
        Case("file-unknown-section", ("run", f"{ws}/unknown-section.yaml", "--dry-run"), ("trian", "not a known setting", "did you mean `train`")),
        Case("file-bool", ("run", f"{ws}/bool-epochs.yaml", "--dry-run"), ("train.epochs", "boolean")),
        Case("file-bad-preset", ("run", f"{ws}/bad-preset.yaml", "--dry-run"), ("preset", "nope")),
        Case("budget-cmd-file-dup", ("budget", f"{ws}/dup-top.yaml"), ("dup-top.yaml", "twice")),
        Case("budget-cmd-bad-budget", ("budget", "--set", "memory.budget=-1"), ("memory.budget", "-1")),
        Case("budget-cmd-preset", ("budget", "--preset", "nope"), ("--preset", "nope")),
        Case("budget-cmd-bool", ("budget", "--set", "budget.reference_exemplars=true"), ("budget.reference_exemplars", "boolean")),
    ]


def _resume_cases() -> list[Case]:
    """--resume of run directories whose checkpoints or config are damaged (no good checkpoint left)."""
    ws = "{ws}"
    return [
        Case("resume-truncated", ("run", "--resume", f"{ws}/ck-truncated"), ("checkpoints/task-0001.pt", "SHA-256")),
        Case("resume-garbage", ("run", "--resume", f"{ws}/ck-garbage"), ("checkpoints/task-0001.pt", "cannot be read")),
        Case("resume-exploit", ("run", "--resume", f"{ws}/ck-exploit"), ("checkpoints/task-0001.pt", "never unpickled")),
        Case("resume-foreign", ("run", "--resume", f"{ws}/ck-foreign"), ("task-0001.pt", "not a retain 'task' checkpoint")),
        Case("resume-no-task-checkpoint", ("run", "--resume", f"{ws}/ck-no-task"), ("epoch-", "do not belong together", "delete")),
        Case("resume-format", ("run", "--resume", f"{ws}/ck-format"), ("task-0001.pt", "format 99")),
        Case("resume-no-digest", ("run", "--resume", f"{ws}/ck-no-digest"), ("task-0001.pt", "no digest file")),
        Case("resume-other-config", ("run", "--resume", f"{ws}/ck-other-config"), ("task-0001.pt", "seed", "does not match")),
        Case("resume-method-state", ("run", "--resume", f"{ws}/ck-method-state"), ("ck-method-state", "cannot load")),
        Case("resume-legacy-name", ("run", "--resume", f"{ws}/ck-legacy-name"), ("task.pt", "older retain")),
        Case("resume-config-yaml", ("run", "--resume", f"{ws}/ck-bad-config-yaml"), ("config.yaml", "not valid YAML")),
        Case("resume-config-value", ("run", "--resume", f"{ws}/ck-bad-config-value"), ("train.epochs", "-2")),
    ]


def _data_cases() -> list[Case]:
    """Dataset folders that are missing or hold broken files."""
    ws = "{ws}/data"

    def data(name: str, folder: str) -> tuple[str, ...]:
        no_download = ("data.download=false",) if name != "imagefolder" else ()  # imagefolder reads no download
        return _dry(f"data.name={name}", f"data.dir={ws}/{folder}", *no_download)

    return [
        Case("data-dir-missing", _dry("data.name=fashion-mnist", "data.dir={ws}/data/nowhere"), ("data.dir", "nowhere", "does not exist")),
        Case("set-twice", _dry("train.epochs=1", "train.epochs=2"), ("train.epochs", "given twice", "1", "2")),
        Case("seed-and-set-seed", ("run", "--dry-run", "--seed", "5", "--set", "seed=6"), ("--seed 5", "seed=6", "disagree")),
        Case("device-and-set-device", ("run", "--dry-run", "--device", "cpu", "--set", "device=auto"), ("device", "given twice")),
        Case("preset-twice", ("run", "--dry-run", "--preset", "demo", "--preset", "fmnist-b0-inc2"), ("--preset", "2 times")),
        Case("set-preset-and-preset", ("run", "--dry-run", "--preset", "demo", "--set", "preset=fmnist-b0-inc2"),
             ("--preset demo", "preset=fmnist-b0-inc2", "two presets")),
        Case("data-dir-missing-digits", _dry("data.dir={ws}/data/nowhere"), ("data.dir", "nowhere")),
        Case("data-dir-file", _dry("data.name=mnist", "data.dir={ws}/cfg/a-file"), ("data.dir", "a-file", "is a file")),
        Case("data-not-found", _dry("data.name=cifar10", "data.dir={ws}/data/if-empty", "data.download=false"),
             ("cifar10", "not found", "download")),
        Case("data-idx-truncated", data("fashion-mnist", "fm-truncated"), ("train-images-idx3-ubyte.gz",)),
        Case("data-idx-magic", data("fashion-mnist", "fm-magic"), ("t10k-images-idx3-ubyte.gz", "magic")),
        Case("data-idx-short-labels", data("fashion-mnist", "fm-short-labels"), ("train-labels-idx1-ubyte.gz", "(20,)")),
        Case("data-idx-label-range", data("mnist", "fm-label-range"), ("train-labels-idx1-ubyte.gz", "labels from 0 to 11")),
        Case("data-idx-not-gzip", data("mnist", "fm-not-gzip"), ("train-labels-idx1-ubyte.gz",)),
        Case("data-idx-empty", data("mnist", "fm-empty-file"), ("t10k-labels-idx1-ubyte.gz",)),
        Case("data-idx-test-size", data("mnist", "fm-test-size"), ("mnist", "(1, 20, 20)", "(1, 28, 28)")),
        Case("data-idx-2d-labels", data("mnist", "fm-labels-2d"), ("train-labels-idx1-ubyte.gz", "shape")),
        Case("data-cifar-garbage", data("cifar10", "cifar-garbage"), ("data_batch_1", "corrupt")),
        Case("data-cifar-exploit", data("cifar10", "cifar-exploit"), ("data_batch_1", "not allowed")),
        Case("data-cifar-no-labels", data("cifar10", "cifar-no-labels"), ("data_batch_1", "labels")),
        Case("data-cifar-shape", data("cifar10", "cifar-wrong-shape"), ("data_batch_1",)),
        Case("data-cifar-labels", data("cifar10", "cifar-label-range"), ("data_batch_1", "11")),
        Case("data-if-no-dir", _dry("data.name=imagefolder"), ("imagefolder", "data.dir")),
        Case("data-if-empty", data("imagefolder", "if-empty"), ("if-empty", "train")),
        Case("data-if-train-only", data("imagefolder", "if-train-only"), ("if-train-only", "val")),
        Case("data-if-no-images", data("imagefolder", "if-no-images"), ("if-no-images", "no images")),
        Case("data-if-unknown-class", data("imagefolder", "if-unknown-class"), ("zebra",)),
        Case("data-if-constant", data("imagefolder", "if-constant"), ("if-constant", "augment.normalize")),
        Case("data-if-broken-image", data("imagefolder", "if-broken-image"), ("2.png",)),
        Case("data-tiny-empty", data("tiny-imagenet", "ti-empty"), ("tiny-imagenet", "not found")),
    ]


def _sweep_cases() -> list[Case]:
    """Grid files `retain sweep` must refuse before any cell runs."""
    ws = "{ws}/grids"

    def sweep(name: str, *extra: str) -> tuple[str, ...]:
        return ("sweep", f"{ws}/{name}.yaml", "--out", "{ws}/sweep-out", *extra)

    return [
        Case("grid-missing", sweep("nowhere"), ("nowhere.yaml", "does not exist")),
        Case("grid-invalid", sweep("invalid"), ("invalid.yaml", "not valid YAML")),
        Case("grid-list", sweep("list"), ("list.yaml", "mapping")),
        Case("grid-dup", sweep("dup"), ("dup.yaml", "axes", "twice")),
        Case("grid-empty-axis", sweep("empty-axis"), ("axes.seed", "empty list")),
        Case("grid-no-axes", sweep("no-axes"), ("axes", "required")),
        Case("grid-unknown-key", sweep("unknown-key"), ("colour", "not a known setting")),
        Case("grid-executor", sweep("executor"), ("executor", "slurm")),
        Case("grid-workers-zero", sweep("workers-zero"), ("workers", "0")),
        Case("grid-bad-value", sweep("bad-value"), ("train.epochs", "one")),
        Case("grid-bool-value", sweep("bool-value"), ("train.lr", "boolean")),
        Case("grid-same-dirs", sweep("same-dirs"), ("same directory name",)),
        Case("grid-bad-method", sweep("bad-method"), ("method.name", "fintune")),
        Case("grid-bad-preset-axis", sweep("bad-preset-axis"), ("preset", "nope")),
        Case("grid-preset-not-name", sweep("preset-not-name"), ("axes.preset",)),
        Case("grid-missing-base", sweep("missing-base"), ("nowhere.yaml", "does not exist")),
        Case("grid-axes-list", sweep("axes-list"), ("axes",)),
        Case("grid-resources", sweep("resources"), ("resources.cpus", "0")),
        Case("grid-memo-mlp", sweep("memo-mlp"), ("model.backbone", "mlp", "memo")),
        Case("grid-base-bad", sweep("base-bad"), ("train.epochs", "-1")),
        Case("grid-cli-executor", sweep("good", "--executor", "slurm"), ("--executor", "slurm")),
        Case("grid-cli-workers", sweep("good", "--workers", "0"), ("--workers", "greater than or equal")),
        Case("grid-out-file", ("sweep", f"{ws}/good.yaml", "--out", "{ws}/cfg/a-file"), ("a-file", "is a file")),
        Case("grid-out-empty", ("sweep", f"{ws}/good.yaml", "--out", ""), ("--out", "empty")),
        Case("grid-variant-not-mapping", sweep("variant-not-mapping"), ("axes.variant", "rm-no-da", "`name`")),
        Case("grid-variant-bad-value", sweep("variant-bad-value"), ("train.epochs", "-1")),
        Case("grid-unknown-shipped", ("sweep", "rm-blurry99", "--out", "{ws}/sweep-out"), ("rm-blurry99", "rm-blurry10-online")),
    ]


def _report_cases() -> list[Case]:
    """`retain report` on folders without usable results, or writing where it cannot."""
    ws = "{ws}/reports"
    return [
        Case("report-nowhere", ("report", f"{ws}/nowhere"), ("nowhere", "no results.json")),
        Case("report-empty-dir", ("report", f"{ws}/empty-dir"), ("empty-dir", "no results.json")),
        Case("report-malformed", ("report", f"{ws}/malformed"), ("malformed/results.json", "not valid JSON")),
        Case("report-no-metrics", ("report", f"{ws}/no-metrics"), ("no-metrics/results.json", "metrics")),
        Case("report-matrix-text", ("report", f"{ws}/matrix-text"), ("matrix-text/results.json", "accuracy_matrix")),
        Case("report-ragged", ("report", f"{ws}/ragged"), ("ragged/results.json", "accuracy_matrix")),
        Case("report-list", ("report", f"{ws}/a-list"), ("a-list/results.json", "list")),
        Case("report-latin1", ("report", f"{ws}/latin1"), ("latin1/results.json", "UTF-8")),
        Case("report-mixed", ("report", f"{ws}/mixed"), ("bad/results.json", "lacks 'method'")),
        Case("report-out-file", ("report", "{ws}/done", "--out", "{ws}/cfg/a-file"), ("a-file",)),
        Case("report-out-unwritable", ("report", "{ws}/done", "--out", "/proc/retain-fault-test"), ("/proc/retain-fault-test",)),
        Case("report-out-empty", ("report", "{ws}/done", "--out", ""), ("--out", "empty")),
    ]


def _memorization_cases() -> list[Case]:
    """`retain memorization` refusing its options before training anything."""
    def memo(*extra: str) -> tuple[str, ...]:
        return ("memorization", "--data", "digits", "--models", "2", "--epochs", "1", *extra)

    return [
        Case("mem-data", memo("--out", "{ws}/m.npy", "--data", "cifar11"), ("cifar11", "cifar10")),
        Case("mem-models", memo("--out", "{ws}/m.npy", "--models", "1"), ("n_models=1",)),
        Case("mem-epochs", memo("--out", "{ws}/m.npy", "--epochs", "0"), ("epochs=0",)),
        Case("mem-seed", memo("--out", "{ws}/m.npy", "--seed", "-1"), ("seed", "-1")),
        Case("mem-device", memo("--out", "{ws}/m.npy", "--device", "tpu"), ("device", "tpu")),
        Case("mem-out-dir", memo("--out", "{ws}/cfg/dir.npy"), ("--out", "dir.npy", "directory")),
        Case("mem-out-under-file", memo("--out", "{ws}/cfg/a-file/m.npy"), ("a-file",)),
        Case("mem-out-unwritable", memo("--out", "/proc/retain-fault-test/m.npy"), ("/proc/retain-fault-test",)),
        Case("mem-out-empty", memo("--out", ""), ("--out", "empty")),
    ]


def _plugin_cases() -> list[Case]:
    """Plugins (`--import`, `imports:`) that cannot be loaded, and the config fields the plugins added."""
    ws = "{ws}/plugins"
    sets = [
        ("imports-bool", ["imports=[true]"], ["imports", "boolean"]),
        ("imports-scalar", ["imports=5"], ["imports", "list"]),
        ("imports-empty-entry", ["imports=['']"], ["imports", "module name"]),
        ("data-option-unknown", ["data.options.colour=red"], ["data.options", "colour", "digits"]),
        ("data-options-list", ["data.options=[1]"], ["data.options"]),
        ("data-path-number", ["data.path=[1]"], ["data.path"]),
        ("task-incremental-number", ["eval.task_incremental=5"], ["eval.task_incremental", "5"]),
        ("uneven-zero", ["scenario.increment=[2, 0]"], ["scenario.increment", "positive"]),
        ("uneven-bool", ["scenario.increment=[2, true]"], ["scenario.increment", "boolean"]),
        ("uneven-empty", ["scenario.increment=[]"], ["scenario.increment", "non-empty"]),
        ("uneven-blurry", ["scenario.kind=blurry", "scenario.increment=[2, 3]"], ["scenario.increment", "class-incremental"]),
        ("uneven-too-many", ["scenario.increment=[5, 5, 5]"], ["scenario.increment"]),
    ]
    cases = [Case(f"plugin-set-{name}", _dry(*items), tuple(needles)) for name, items, needles in sets]
    cases += [
        Case("plugin-module-missing", ("run", "--dry-run", "--import", "no_such_retain_plugin"),
             ("no_such_retain_plugin", "not found", "PYTHONPATH")),
        Case("plugin-not-a-name", ("run", "--dry-run", "--import", "my plugin"), ("my plugin", "neither a module name", ".py")),
        Case("plugin-file-missing", ("run", "--dry-run", "--import", f"{ws}/nowhere.py"), ("nowhere.py", "does not exist")),
        Case("plugin-file-a-folder", ("run", "--dry-run", "--import", f"{ws}"), ("--import", "is a directory")),
        Case("plugin-file-raises", ("run", "--dry-run", "--import", f"{ws}/raises.py"),
             ("raises.py", "failed to import", "RuntimeError", "licence file")),
        Case("plugin-file-syntax", ("run", "--dry-run", "--import", f"{ws}/syntax.py"), ("syntax.py", "SyntaxError")),
        Case("plugin-name-taken", ("run", "--dry-run", "--import", f"{ws}/taken.py"), ("taken.py", "'mlp'", "already registered")),
        Case("plugin-config-imports", ("run", "{ws}/cfg/imports-raises.yaml", "--dry-run"), ("plugins/raises.py", "licence file")),
        Case("plugin-config-imports-scalar", ("run", "{ws}/cfg/imports-scalar.yaml", "--dry-run"), ("imports", "list")),
        Case("plugin-list-cmd", ("list", "--import", "no_such_retain_plugin"), ("no_such_retain_plugin", "not found")),
        Case("plugin-budget-cmd", ("budget", "--import", f"{ws}/raises.py"), ("raises.py", "licence file")),
        Case("plugin-sweep-cmd", ("sweep", "{ws}/grids/good.yaml", "--out", "{ws}/sweep-out", "--import", f"{ws}/syntax.py"),
             ("syntax.py", "SyntaxError")),
        Case("plugin-resume-cmd", ("run", "--resume", "{ws}/partial", "--import", f"{ws}/nowhere.py"), ("nowhere.py", "does not exist")),
        # A plugin's method parameters are as strict as a built-in's (in a subprocess: the registration stays there).
        Case("plugin-param-bool", ("run", "--dry-run", "--import", f"{ws}/strict_method.py", "--set", "method.name=fault-plugin",
                                   "--set", "method.strength=true"), ("method.strength", "boolean"), subprocess=True),
        Case("plugin-param-unknown", ("run", "--dry-run", "--import", f"{ws}/strict_method.py", "--set", "method.name=fault-plugin",
                                      "--set", "method.strenght=2"), ("method.strenght", "not a known setting", "did you mean `method.strength`"), subprocess=True),
    ]
    return cases


def _entry_point_cases() -> list[Case]:
    """A few through the real console entry point (a subprocess), so main() itself is covered."""
    return [
        Case("main-memo-mlp", ("run", "--preset", "fmnist-b0-inc2", "--set", "method.name=memo", "--set", "memory.budget=500 images"),
             ("model.backbone", "mlp", "resnet32"), subprocess=True),
        Case("main-bool-epochs", ("run", "--set", "train.epochs=true", "--out", "{ws}/never"), ("train.epochs", "boolean"), subprocess=True),
        Case("main-bad-resume", ("run", "--resume", "{ws}/ck-truncated"), ("task-0001.pt", "SHA-256"), subprocess=True),
    ]


CASES: list[Case] = [
    *_set_cases(), *_option_cases(), *_file_cases(), *_resume_cases(), *_data_cases(), *_sweep_cases(),
    *_report_cases(), *_memorization_cases(), *_plugin_cases(), *_entry_point_cases(),
]
assert len({case.id for case in CASES}) == len(CASES), "case ids must be unique"
