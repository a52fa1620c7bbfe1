"""Many independent jobs (a random search's candidates, a benchmark's rows): in this process one after the other,
or as Ray tasks with the ``distributed`` extra.

Each job asks Ray for one CPU and ``gpus`` GPUs (a fraction shares a GPU), so a node runs as many at once as it
has room for; Ray gives a task one torch thread per CPU it asked for. Without ``address`` a new local
Ray instance is started for the call and stopped after it; ``address="auto"`` (or ``ray://…``) joins a running
cluster, whose nodes must see the same files (the jobs write their checkpoints where they would in-process).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from tqdm import tqdm

from hwnas.core.errors import HwnasError, one_line

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class JobOptions:
    """Where independent jobs run: ``ray=False`` in this process, as now."""

    ray: bool = False
    address: str | None = None  # a running cluster ("auto"); None: a new local instance
    gpus: float = 0.0  # per job

    def check(self) -> None:
        """Before any work: Ray must be importable when it is asked for."""
        if (self.address or self.gpus) and not self.ray:
            raise HwnasError("--ray-address and --gpus-per-job apply with --ray only; add --ray")
        if self.gpus < 0:
            raise HwnasError(f"a job's share of a GPU cannot be negative ({self.gpus}); give 0 or more")
        if self.ray:
            require_ray("running jobs as Ray tasks")


IN_PROCESS = JobOptions()


def require_ray(purpose: str) -> Any:
    try:
        import ray
    except ImportError:
        raise HwnasError(f"{purpose} needs Ray: pip install 'hwnas[distributed]'") from None
    return ray


@contextmanager
def ray_session(address: str | None, resources: dict[str, float] | None = None) -> Iterator[Any]:
    """Ray, initialised for the block: a new local instance (with ``resources``) unless ``address`` names a
    cluster. An instance this process already runs is used as it is."""
    ray = require_ray("Ray")
    started = False
    if not ray.is_initialized():
        # without an address, always a new instance: never another user's cluster found on this machine
        local = {} if address else {"resources": resources or {}}
        ray.init(address=address or "local", include_dashboard=False, log_to_driver=False, **local)
        started = True
    try:
        yield ray
    finally:
        if started:
            ray.shutdown()


def map_jobs(
    fn: Callable[..., R],
    items: Sequence[T],
    options: JobOptions,
    shared: Sequence[Any] = (),
    desc: str = "jobs",
    progress: bool = False,
) -> list[R]:
    """``[fn(*shared, item) for item in items]``, in order. As Ray tasks, ``shared`` (say a task and its data) is
    put in the object store once for all jobs; a job's error is raised here as the job raised it."""
    if not options.ray:
        return [fn(*shared, item) for item in items]
    with ray_session(options.address) as ray:
        refs = [ray.put(s) for s in shared]
        job = ray.remote(_call).options(num_cpus=1, num_gpus=options.gpus, max_retries=0)
        calls = {job.remote(fn, *refs, item): i for i, item in enumerate(items)}
        results: dict[int, R] = {}
        with tqdm(total=len(items), desc=f"{desc} on Ray", unit="job", disable=not progress) as bar:
            pending = list(calls)
            while pending:
                ready, pending = ray.wait(pending, num_returns=1)
                try:
                    results[calls[ready[0]]] = ray.get(ready[0])
                except ray.exceptions.RayTaskError as exc:
                    for call in pending:
                        ray.cancel(call, force=True)
                    cause = exc.cause if isinstance(exc.cause, HwnasError) else None
                    raise cause or HwnasError(f"a job failed on Ray: {one_line(exc)}") from None
                except ray.exceptions.RayError as exc:
                    raise HwnasError(f"a Ray job could not run: {one_line(exc)}") from None
                bar.update(1)
        return [results[i] for i in range(len(items))]


def _call(fn: Callable[..., R], *args: Any) -> R:
    """What a Ray task runs: Ray takes functions only, and ``fn`` may be any callable."""
    return fn(*args)
