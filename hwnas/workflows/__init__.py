"""The flows a user runs, wired once: the CLI and every benchmark call these.

- ``tables``: device preset -> backend -> profile a space -> latency table (built when missing);
- ``searches``: table + task -> search (differentiable or random) -> export -> end-to-end check -> report;
- ``runs``: train an encoder or architecture from scratch -> evaluate -> export.
"""
