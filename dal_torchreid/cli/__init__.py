"""Command-line entry points (installed as ``dal-train``, ``dal-demo``, ``dal-run-splits``,
``dal-make-synthetic``, ``dal-prepare-splits``); each module's
``main(argv) -> int`` is also what the thin scripts under ``tools/`` call."""
