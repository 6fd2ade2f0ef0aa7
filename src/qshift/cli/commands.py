"""The table of sub-commands: name → (the module that builds its parser, its one-line help).

Only the module of the command being run is imported, so ``qshift list`` or ``qshift run``
loads nothing of the others (pretraining, export, bench).
"""

COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("qshift.cli.run", "one adaptation run; --json prints the result contract"),
    "bench": ("qshift.cli.bench", "a resumable matrix of shifts × methods × seeds with tables and plots"),
    "demo": ("qshift.cli.demo", "the embedded default: source vs baseline vs TCR on scenes, a few minutes"),
    "shift": ("qshift.cli.shift", "write corrupted copies of a dataset (COCO-C style; audio, video)"),
    "pretrain": ("qshift.cli.pretrain", "train a shipped source model (scenes, …) on the CPU"),
    "reproduce": (
        "qshift.cli.reproduce",
        "COCO-C i2t/t2i tables on your weights, beside the paper's numbers",
    ),
    "stats": ("qshift.cli.stats", "clean-query statistics of a model, for the source-statistics methods"),
    "list": ("qshift.cli.listing", "methods, shifts, models, datasets, suites and tasks, one line each"),
}
