"""Where pipeline steps run: here (the default) or on a Ray cluster.

An :class:`Executor` runs one *job* (``run``: a user pipeline, a refit) or many
independent *tasks* (``map``: AutoML workers, each pulling trials from a shared
Optuna study). Functions and arguments sent to Ray must be picklable and
importable on the workers (module-level functions, not closures).
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from mlpilot.core.errors import InvalidArgument


class Executor(abc.ABC):
    """Runs callables somewhere and returns their results.

    Rules: ``run`` and ``map`` block until every result is back and re-raise the
    first exception a callable raised; results come back in argument order.
    Instances may be shared by threads; ``close`` releases what the executor
    started (it never stops a cluster it only joined).
    """

    name: str = "executor"

    @abc.abstractmethod
    def run(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run ``fn(*args, **kwargs)`` as one job and return its result."""

    @abc.abstractmethod
    def map(self, fn: Callable[..., Any], argsets: Sequence[tuple[Any, ...]]) -> list[Any]:
        """Run ``fn(*args)`` for every tuple in ``argsets``, concurrently where possible."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release what this executor started."""

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class LocalExecutor(Executor):
    """The current process: jobs run inline, ``map`` uses up to ``max_workers`` threads."""

    name = "local"

    def __init__(self, max_workers: int | None = None) -> None:
        if max_workers is not None and max_workers < 1:
            raise InvalidArgument(
                f"LocalExecutor max_workers must be a positive integer. Got {max_workers}."
            )
        self.max_workers = max_workers

    def run(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Call ``fn`` inline (it sees this thread's active run)."""
        return fn(*args, **kwargs)

    def map(self, fn: Callable[..., Any], argsets: Sequence[tuple[Any, ...]]) -> list[Any]:
        """Call ``fn`` for each argument tuple; in threads when there are several."""
        workers = min(self.max_workers or len(argsets), len(argsets))
        if workers <= 1:
            return [fn(*args) for args in argsets]
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="mlpilot-train") as pool:
            return list(pool.map(lambda args: fn(*args), argsets))

    def __repr__(self) -> str:
        return f"LocalExecutor(max_workers={self.max_workers})"


def _invoke(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call ``fn`` in a Ray worker (``ray.remote`` refuses builtins and callable objects)."""
    return fn(*args, **kwargs)


class RayExecutor(Executor):
    """Ray tasks: joins ``address`` (or ``RAY_ADDRESS``), else starts a local runtime.

    Args:
        address: the cluster to join; ``None`` lets ``ray.init`` decide.
        num_cpus: CPUs reserved by each task.
        ray_init: extra keyword arguments for ``ray.init`` when this executor starts Ray.
    """

    name = "ray"

    def __init__(self, address: str | None = None, *, num_cpus: float = 1,
                 ray_init: dict[str, Any] | None = None) -> None:
        self.address = address
        self.num_cpus = num_cpus
        self.ray_init = dict(ray_init or {})
        self._started = False

    def _ray(self) -> Any:
        try:
            import ray
        except ImportError as e:
            raise InvalidArgument(
                "The ray executor needs Ray. Install it with `pip install 'mlpilot[ray]'`."
            ) from e
        if not ray.is_initialized():
            ray.init(address=self.address,
                     **{"include_dashboard": False, "log_to_driver": False, **self.ray_init})
            self._started = True
        return ray

    def run(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run ``fn`` as one Ray task and wait for it."""
        ray = self._ray()
        remote = ray.remote(num_cpus=self.num_cpus)(_invoke)
        return ray.get(remote.remote(fn, *args, **kwargs))

    def map(self, fn: Callable[..., Any], argsets: Sequence[tuple[Any, ...]]) -> list[Any]:
        """One Ray task per argument tuple; large shared arguments are put once."""
        ray = self._ray()
        remote = ray.remote(num_cpus=self.num_cpus)(_invoke)
        shared: dict[int, Any] = {}

        def ref(value: Any) -> Any:
            # The same DataFrame passed to every worker goes to the object store once.
            if type(value).__module__.startswith(("pandas", "numpy")):
                if id(value) not in shared:
                    shared[id(value)] = ray.put(value)
                return shared[id(value)]
            return value

        return list(ray.get([remote.remote(fn, *[ref(a) for a in args]) for args in argsets]))

    def close(self) -> None:
        """Shut Ray down if this executor started it."""
        if self._started:
            import ray

            ray.shutdown()
            self._started = False

    def __repr__(self) -> str:
        return f"RayExecutor(address={self.address!r}, num_cpus={self.num_cpus})"


EXECUTORS: dict[str, type[Executor]] = {"local": LocalExecutor, "ray": RayExecutor}


def get_executor(spec: str | Executor | None = None, **kwargs: Any) -> Executor:
    """Map ``None``/a name/an instance to an executor (``None`` is ``"local"``).

    Raises:
        InvalidArgument: for an unknown name (the message lists the valid ones).
    """
    if isinstance(spec, Executor):
        return spec
    name = spec or "local"
    cls = EXECUTORS.get(name) if isinstance(name, str) else None
    if cls is None:
        raise InvalidArgument(
            f"No executor named {name!r}. Available: {sorted(EXECUTORS)}."
        )
    return cls(**kwargs)
