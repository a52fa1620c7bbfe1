"""Parse what TensorFlow Lite's ``benchmark_model`` prints, across the versions people run.

Fields are read by name, never by position: ``count= first= curr= min= max= avg= std=`` with or without
``p5= median= p95=``, ``count=N curr=X(all same)``, scientific notation (``avg=2.95034e+06``), ``INFO:`` and
logcat prefixes (threadtime, brief, tag), the ``Inference timings in us:`` summary and its 2018 form
``Average inference timings in us:`` — alone, in builds that print no statistics line —, op-profiling tables
with or without a ``[start]`` column, peak-memory lines, and the lines that say how much of the graph a
delegate took, in how many partitions (so that a delegate which silently fell back to the CPU is caught).
Times in the output are microseconds. The test fixtures under ``tests/fixtures/benchmark_model/`` are real
published outputs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from hwnas.core.errors import HwnasError
from hwnas.core.measurement import RunSummary

_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
# logcat -v threadtime: "05-30 15:16:44.857  3380  3380 I tflite  : ..."
_LOGCAT_THREADTIME = re.compile(r"^\d\d-\d\d \d\d:\d\d:\d\d\.\d+\s+\d+\s+\d+\s+[VDIWEF]\s+\S+\s*:\s?")
# logcat -v brief/time: "07-08 15:33:55.768 I/tflite  ( 5395): ..."
_LOGCAT_BRIEF = re.compile(r"^(?:\d\d-\d\d \d\d:\d\d:\d\d\.\d+\s+)?[VDIWEF]/\S+\s*\(\s*\d+\):\s?")
# logcat -v tag, and Android Studio's copy: "I/tflite  : ..." or "I tflite  : ..."; TensorFlow's docs elide the
# prefix as "... tflite  : ..."
_LOGCAT_TAG = re.compile(r"^(?:[VDIWEF][/ ]|\.\.\.\s+)[\w.-]+\s*: ?")
# LiteRT's newer tools put the source line after the level: "INFO: [benchmark_litert_model.h:100] ..."
_SOURCE_LINE = re.compile(r"^\[[\w./-]+:\d+\] ?")
# LiteRT's CompiledModel benchmark: "Inference (avg):      7430.20 ms (10 runs)", "Inference (std):      9.92"
_RESULT = re.compile(
    rf"^(Warmup|Inference) \((avg|min|max|std|median|first)\):\s+({_NUMBER})(?: ms)?(?: \((\d+) runs\))?"
)
_FOOTPRINT = re.compile(rf"^Overall footprint:\s+({_NUMBER}) MB")
_LEVEL = re.compile(r"^(INFO|VERBOSE|WARNING|ERROR|DEBUG): ?")
_FIELD = re.compile(rf"(\w+)=({_NUMBER})(\(all same\))?")
_RUNNING = re.compile(r"^Running benchmark for at least")
_SUMMARY = re.compile(r"^(?:Average )?[Ii]nference timings in us: (.*)$")
_REPLACING = re.compile(
    r"Replacing (\d+)(?: out of (\d+))? node\(s\) with delegate \(([^)]+)\) node(?:, yielding (\d+) partition)?"
)
_NODES_DELEGATED = re.compile(r"(\w+) delegate: (\d+) nodes delegated out of (\d+) nodes(?: with (\d+) partition)?")
_MEMORY_DELTA = re.compile(
    rf"(?:Memory footprint delta from the start of the tool|Peak memory footprint) \(MB\): .*overall=({_NUMBER})"
)
_MEMORY_PEAK = re.compile(rf"Overall peak memory footprint \(MB\) via periodic monitoring: ({_NUMBER})")
_NUM_RUNS = re.compile(r"^(?:Min num runs|Num runs): \[(\d+)\]")
_EXPLICIT_FULL = re.compile(r"Explicitly applied (\w+) delegate, and the model graph will be completely executed")
_EXPLICIT_PARTIAL = re.compile(
    r"Explicitly applied (\w+) delegate, and the model graph will be partially executed by the delegate w/ (\d+)"
)
_NOT_APPLIED = re.compile(r"Though (\w+) delegate is explicitly applied, the model graph will not be executed")
_FAILED_DELEGATE = re.compile(r"(?:Failed to apply|Could not create) (\w+) delegate")


class BenchmarkOutputError(HwnasError):
    """benchmark_model's output holds no timing of the regular runs (it failed, or the text is garbled)."""


@dataclass(frozen=True)
class RunStats:
    """One ``count=...`` line, in microseconds. ``p5``/``median``/``p95`` only where the version prints them."""

    count: int
    avg_us: float
    std_us: float
    min_us: float
    max_us: float
    first_us: float | None = None
    curr_us: float | None = None
    p5_us: float | None = None
    median_us: float | None = None
    p95_us: float | None = None

    @classmethod
    def parse(cls, text: str) -> RunStats:
        fields = {name: float(value) for name, value, _ in _FIELD.findall(text)}
        if "count" not in fields or ("curr" not in fields and "avg" not in fields):
            raise BenchmarkOutputError(f"unreadable statistics line {text!r}")
        count = int(fields["count"])
        if count < 1:
            raise BenchmarkOutputError(f"statistics line with no runs: {text!r}")
        if "avg" not in fields:  # `count=1 curr=X` or `count=N curr=X(all same)`: every run took X
            x = fields["curr"]
            return cls(count, x, 0.0, x, x, x, x, fields.get("p5"), fields.get("median", x), fields.get("p95"))
        return cls(
            count=count,
            avg_us=fields["avg"],
            std_us=fields.get("std", 0.0),
            min_us=fields.get("min", fields["avg"]),
            max_us=fields.get("max", fields["avg"]),
            first_us=fields.get("first"),
            curr_us=fields.get("curr"),
            p5_us=fields.get("p5"),
            median_us=fields.get("median"),
            p95_us=fields.get("p95"),
        )

    def summary(self) -> RunSummary:
        """The same figures in milliseconds, as a Measurement carries them."""

        def ms(us: float | None) -> float | None:
            return None if us is None else us / 1000

        return RunSummary(
            self.count, ms(self.avg_us), ms(self.std_us), ms(self.min_us), ms(self.max_us),
            ms(self.median_us), ms(self.p5_us), ms(self.p95_us),
        )  # fmt: skip


@dataclass(frozen=True)
class DelegateReport:
    """What the output says one delegate took: nodes replaced (of how many), or a blanket statement."""

    name: str  # as printed: "GPU", "NNAPI", "TfLiteHexagonDelegate", "TfLiteQnnDelegate", "EXTERNAL", ...
    delegated: int | None = None
    total: int | None = None
    applied: str = "unknown"  # "full", "partial", "none", "failed" or "unknown"
    partitions: int | None = None


@dataclass(frozen=True)
class Placement:
    """Where a delegate put the graph, as the tool's own lines say: stored with each measurement."""

    delegate: str  # the delegate asked for: gpu, nnapi, hexagon, qnn
    share: float  # of the graph's nodes it took (1.0 whole, 0.0 none)
    nodes: int | None = None
    total: int | None = None
    partitions: int | None = None

    def describe(self) -> str:
        """``gpu 31/31 nodes, 1 partition``, ``gpu none``, ``nnapi partial``."""
        if self.total == 0:
            return f"{self.delegate} 0/0 nodes (no operators)"
        if self.nodes is not None and self.total:
            parts = f", {self.partitions} partition{'s' * (self.partitions != 1)}" if self.partitions else ""
            return f"{self.delegate} {self.nodes}/{self.total} nodes{parts}"
        return f"{self.delegate} {'all' if self.share == 1 else 'none' if self.share == 0 else 'partial'}"


@dataclass(frozen=True)
class OpProfileRow:
    node_type: str
    name: str
    avg_ms: float
    first_ms: float | None
    start_ms: float | None  # only in versions with a [start] column
    times_called: int | None


@dataclass
class BenchmarkOutput:
    regular: RunStats
    warmup: RunStats | None = None
    summary_us: dict[str, float] = field(default_factory=dict)  # "Init", "First inference", "Inference (avg)", ...
    delegates: list[DelegateReport] = field(default_factory=list)
    op_profile: list[OpProfileRow] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    peak_memory_mb: float | None = None  # --report_peak_memory_footprint: the periodic peak, else the overall delta
    summary_only: bool = False  # an older build printed only the averages: no spread, count from its flags

    def placement(self, delegate: str, names: tuple[str, ...]) -> Placement | None:
        """What the output says the delegate known by ``names`` took, or None when it says nothing."""
        share = self.delegate_share(names)
        if share is None:
            return None
        wanted = {n.lower() for n in names}
        counted = [d for d in self.delegates if d.name.lower() in wanted and d.total]
        last = counted[-1] if counted else None
        if last is None:
            return Placement(delegate, share)
        return Placement(delegate, share, last.delegated, last.total, last.partitions)

    def delegate_share(self, names: tuple[str, ...]) -> float | None:
        """Share of graph nodes that the delegate known by any of ``names`` took: 1.0 when the output says it
        executes the whole graph, 0.0 when it says it executes none or failed, None when the output says
        nothing about it (which, for a delegate that was asked for, means it never ran)."""
        wanted = {n.lower() for n in names}
        share = None
        for d in self.delegates:
            if d.name.lower() not in wanted:
                continue
            if d.applied in ("none", "failed"):
                return 0.0
            if d.delegated is not None and d.total:
                share = d.delegated / d.total
            elif d.applied == "full":
                share = 1.0 if share is None else share
            elif d.applied == "partial" and share is None:
                share = 0.5  # "partially executed ... w/ K kernels": less than all, count of nodes unknown
        return share


def strip_prefix(line: str) -> tuple[str, str]:
    """(level, text) of one line with logcat and ``INFO:``-style prefixes and surrounding blanks removed."""
    text = line.strip()
    level = ""
    for pattern in (_LOGCAT_THREADTIME, _LOGCAT_BRIEF, _LOGCAT_TAG):
        m = pattern.match(text)
        if m:
            text = text[m.end() :]
            break
    m = _LEVEL.match(text)
    if m:
        level, text = m.group(1), text[m.end() :]
    m = _SOURCE_LINE.match(text)
    if m:
        text = text[m.end() :]
    return level, text.rstrip()


def _summary_fields(text: str) -> dict[str, float]:
    out = {}
    for part in text.split(","):
        key, sep, value = part.rpartition(":")
        if sep and re.fullmatch(_NUMBER, value.strip()):
            out[key.strip()] = float(value.strip())
    return out


def _table_rows(lines: list[str], start: int) -> list[OpProfileRow]:
    """The rows of the Run Order table whose header follows ``start``; columns found by their header names."""
    i = start
    while i < len(lines) and "[node type]" not in lines[i]:
        i += 1
    if i == len(lines):
        return []
    header = [c.strip() for c in lines[i].split("\t") if c.strip()]
    col = {name: k for k, name in enumerate(header)}
    rows = []
    for line in lines[i + 1 :]:
        cells = [c.strip() for c in line.split("\t") if c.strip()]
        if len(cells) != len(header):
            break
        try:
            rows.append(
                OpProfileRow(
                    node_type=cells[col["[node type]"]],
                    name=cells[col["[Name]"]] if "[Name]" in col else "",
                    avg_ms=float(cells[col["[avg ms]"]]),
                    first_ms=float(cells[col["[first]"]]) if "[first]" in col else None,
                    start_ms=float(cells[col["[start]"]]) if "[start]" in col else None,
                    times_called=int(cells[col["[times called]"]]) if "[times called]" in col else None,
                )
            )
        except (KeyError, ValueError):
            break
    return rows


def parse(output: str) -> BenchmarkOutput:
    """Parse one benchmark_model run. Raises BenchmarkOutputError when no regular-run timing is in it."""
    stripped = [strip_prefix(line) for line in output.splitlines()]
    texts = [t for _, t in stripped]
    stats: list[RunStats] = []
    summary: dict[str, float] = {}
    delegates: list[DelegateReport] = []
    errors = [t for level, t in stripped if level == "ERROR" or t.startswith(("Benchmarking failed", "Failed to"))]
    op_profile: list[OpProfileRow] = []
    after_running = running_seen = False
    memory: dict[str, float] = {}
    results: dict[tuple[str, str], tuple[float, int | None]] = {}  # LiteRT CompiledModel's block, in ms
    num_runs = None
    for i, text in enumerate(texts):
        if m := _RESULT.match(text):
            results[(m.group(1), m.group(2))] = (float(m.group(3)), int(m.group(4)) if m.group(4) else None)
            continue
        if m := _FOOTPRINT.match(text):
            memory["footprint"] = float(m.group(1))
            continue
        if m := _NUM_RUNS.match(text):
            num_runs = int(m.group(1))
            continue
        if _RUNNING.match(text):
            after_running = running_seen = True
            continue
        if after_running and text.startswith("count="):
            if not re.match(r"count=0\b", text):  # `count=0`: no warm-up runs were asked for
                stats.append(RunStats.parse(text))
            after_running = False
            continue
        m = _SUMMARY.match(text)
        if m:
            summary = _summary_fields(m.group(1))
            continue
        if text.startswith("Operator-wise Profiling Info for Regular Benchmark Runs"):
            op_profile = _table_rows(texts, i + 1)
            continue
        if m := _MEMORY_PEAK.search(text):
            memory["peak"] = float(m.group(1))
        elif m := _MEMORY_DELTA.search(text):
            memory["delta"] = float(m.group(1))
        elif m := _REPLACING.search(text):
            total = int(m.group(2)) if m.group(2) else None
            parts = int(m.group(4)) if m.group(4) else None
            delegates.append(DelegateReport(m.group(3), int(m.group(1)), total, "partial", parts))
        elif m := _NODES_DELEGATED.search(text):
            n, total = int(m.group(2)), int(m.group(3))
            applied = "none" if n == 0 else "full" if n == total else "partial"
            parts = int(m.group(4)) if m.group(4) else None
            delegates.append(DelegateReport(m.group(1), n, total, applied, parts))
        elif m := _EXPLICIT_FULL.search(text):
            delegates.append(DelegateReport(m.group(1), applied="full"))
        elif m := _EXPLICIT_PARTIAL.search(text):
            delegates.append(DelegateReport(m.group(1), applied="partial"))
        elif m := _NOT_APPLIED.search(text):
            delegates.append(DelegateReport(m.group(1), applied="none"))
        elif m := _FAILED_DELEGATE.search(text):
            delegates.append(DelegateReport(m.group(1), applied="failed"))
    if not stats and ("Inference", "avg") in results:  # LiteRT's CompiledModel tool: a results block in ms
        stats = [s for s in (_result_stats(results, "Warmup"), _result_stats(results, "Inference")) if s]
    # an older build's form: no statistics line, and no `Running benchmark` line either (one without its
    # statistics line is a run cut short, not that form)
    older = None if stats or running_seen else _summary_stats(summary, num_runs)
    if older is not None:
        stats = [older]
    if not stats:
        raise BenchmarkOutputError(_unreadable(texts, errors, running_seen, summary))
    return BenchmarkOutput(
        regular=stats[-1],
        warmup=stats[-2] if len(stats) > 1 else None,
        summary_us=summary,
        delegates=delegates,
        op_profile=op_profile,
        errors=errors,
        peak_memory_mb=memory.get("peak", memory.get("delta", memory.get("footprint"))),
        summary_only=older is not None,
    )


def _summary_stats(summary: dict[str, float], num_runs: int | None) -> RunStats | None:
    """An older build's only timing: the ``Inference (avg)`` (2018: ``no stats``) of its summary line, over the
    runs its flag dump names (else one). No spread is printed, so none is claimed: std 0, min = max = avg."""
    avg = summary.get("Inference (avg)", summary.get("Inference", summary.get("no stats")))
    if avg is None or avg <= 0:
        return None
    return RunStats(num_runs or 1, avg, 0.0, avg, avg)


def _result_stats(results: dict[tuple[str, str], tuple[float, int | None]], phase: str) -> RunStats | None:
    """One phase of LiteRT's CompiledModel results block (milliseconds) as statistics in microseconds."""
    if (phase, "avg") not in results:
        return None
    runs = results[(phase, "avg")][1]
    us = {stat: value * 1000 for (p, stat), (value, _) in results.items() if p == phase}
    return RunStats(
        runs or 1, us["avg"], us.get("std", 0.0), us.get("min", us["avg"]), us.get("max", us["avg"]),
        first_us=us.get("first"), median_us=us.get("median"),
    )  # fmt: skip


def _unreadable(texts: list[str], errors: list[str], running_seen: bool, summary: dict[str, float]) -> str:
    """What was looked for and what was found, so that the user looks in the right place."""
    found = (
        "a `Running benchmark for at least` line without a `count=` line after it"
        if running_seen
        else f"an `Inference timings in us:` line without `Inference (avg)` ({', '.join(summary)})"
        if summary
        else f"{sum(1 for t in texts if t)} lines with neither"
    )
    reason = errors[-1] if errors else next((t for t in reversed(texts) if t), "no output")
    return (
        "benchmark_model printed no timing of its runs (looked for a `count=... avg=...` line after `Running "
        f"benchmark for at least`, or an `Inference timings in us: ... Inference (avg): ...` summary; found "
        f"{found}); last message: {reason[:200]}"
    )
