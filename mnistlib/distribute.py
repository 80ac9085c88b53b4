"""The same training on several devices, or on several machines, with ``tf.distribute``.

* :func:`training_devices` names ``count`` devices to train on: the GPUs when
  there are that many, otherwise logical CPUs, made with
  ``tf.config.set_logical_device_configuration`` (so the path runs anywhere).
* :func:`mirrored_strategy` is ``tf.distribute.MirroredStrategy`` over them:
  :func:`mnistlib.training.load_or_train` builds a model in its scope when
  asked for ``devices > 1``.
* :func:`run_workers` starts worker processes on this machine (127.0.0.1
  only), each told its part of the cluster by ``TF_CONFIG``, which train one
  model together under ``tf.distribute.MultiWorkerMirroredStrategy``. Each
  epoch ends with a backup (Keras's ``BackupAndRestore``, written by the
  first worker, the chief); when a worker dies, the launcher stops the others
  and starts them all again, and they resume from the last backup.

``python -m mnistlib train --devices N`` and ``--workers N`` call these.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import keras

if TYPE_CHECKING:
    import tensorflow as tf

    from mnistlib.configs import TrainConfig

__all__ = [
    "DeviceError",
    "WorkerError",
    "WorkerRun",
    "cluster_spec",
    "mend_keras_for_multi_worker",
    "mirrored_strategy",
    "run_workers",
    "training_devices",
    "use_logical_cpus",
]

#: How the launcher reports the worker it killed itself (``kill_after_epoch``).
KILLED = "the launcher killed worker"

#: Seconds a worker run may take before the launcher stops it (a cluster that never answers).
WORKER_TIMEOUT = 900.0


class DeviceError(RuntimeError):
    """The devices asked for cannot be made (TensorFlow has already started)."""


class WorkerError(RuntimeError):
    """A run of workers failed, or did not finish in time."""


def use_logical_cpus(count: int) -> list[str]:
    """Split the CPU into ``count`` logical devices; the names of the first ``count``.

    TensorFlow fixes its devices when it first runs an operation, so this must
    come first in a session; asking again for as many or fewer is fine.
    """
    import tensorflow as tf

    if count < 1:
        raise ValueError(f"devices must be at least 1, not {count}")
    (cpu, *_) = tf.config.list_physical_devices("CPU")
    with contextlib.suppress(RuntimeError):  # already started: fine if there are enough
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(count)]
        )
    names = [device.name for device in tf.config.list_logical_devices("CPU")]
    if len(names) < count:
        raise DeviceError(
            f"TensorFlow has already started with {len(names)} CPU device(s), and {count} "
            "were asked for: split the CPU first thing in a fresh session (restart the kernel)"
        )
    return names[:count]


def training_devices(count: int) -> list[str]:
    """``count`` devices to train on: GPUs when there are that many, else logical CPUs."""
    import tensorflow as tf

    if len(tf.config.list_physical_devices("GPU")) >= count:  # (listing logical ones starts TF)
        return [gpu.name for gpu in tf.config.list_logical_devices("GPU")[:count]]
    return use_logical_cpus(count)


def mirrored_strategy(count: int) -> tf.distribute.Strategy:
    """``MirroredStrategy`` over ``count`` devices: one replica of the model on each.

    On CPUs the gradients are added up on one device (``ReductionToOneDevice``):
    the default, collective operations, fails when a second strategy of another
    size is made in the same process.
    """
    import tensorflow as tf

    devices = training_devices(count)
    if "GPU" in devices[0].upper():
        return tf.distribute.MirroredStrategy(devices)
    return tf.distribute.MirroredStrategy(devices, tf.distribute.ReductionToOneDevice())


def cluster_spec(ports: list[int], index: int) -> dict[str, Any]:
    """The ``TF_CONFIG`` of worker ``index`` of a cluster on this machine's loopback address."""
    return {
        "cluster": {"worker": [f"127.0.0.1:{port}" for port in ports]},
        "task": {"type": "worker", "index": index},
    }


def free_ports(count: int) -> list[int]:
    """``count`` TCP ports that are free on 127.0.0.1 now."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for one in sockets:
            one.bind(("127.0.0.1", 0))
        return [one.getsockname()[1] for one in sockets]
    finally:
        for one in sockets:
            one.close()


@dataclass
class WorkerRun:
    """What a run of workers produced: one result per worker, and its restarts."""

    results: list[dict[str, Any]]
    starts: int
    killed: int | None = None  # the worker the launcher killed, if asked to
    backup_epoch_at_restart: int | None = None

    @property
    def chief(self) -> dict[str, Any]:
        return self.results[0]


def run_workers(
    config: TrainConfig,
    work_dir: Path,
    workers: int = 2,
    *,
    images: int | None = None,
    kill_after_epoch: int | None = None,
    restarts: int = 1,
    timeout: float = WORKER_TIMEOUT,
) -> WorkerRun:
    """Train ``config``'s validation run with ``workers`` processes on 127.0.0.1; their results.

    The workers fit as :func:`mnistlib.training.load_or_train` does (the same
    model, seed, schedule and callbacks), ``config.batch_size`` being the
    global batch. ``images`` limits training to the first images of the fit
    split (the validation split stays whole). A worker that dies stops the
    run, and the launcher starts all of them again, up to ``restarts`` times;
    they resume from the chief's last backup. Run again with the same
    settings after everything stopped, they resume from it too. With
    ``kill_after_epoch``, the launcher itself kills the last worker
    (``SIGKILL``) once the backup holds that many epochs.
    """
    work_dir = Path(work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    for old in work_dir.glob("worker-*.*"):
        old.unlink()
    settings = {"config": asdict(config), "images": images, "workers": workers}
    if _read_settings(work_dir) != settings:
        shutil.rmtree(backup_dir(work_dir), ignore_errors=True)  # a backup of another run
    (work_dir / "settings.json").write_text(json.dumps(settings))
    deadline = time.monotonic() + timeout
    run = WorkerRun(results=[], starts=0)
    for _ in range(restarts + 1):
        run.starts += 1
        if run.starts > 1:
            run.backup_epoch_at_restart = backup_epoch(work_dir)
        processes = _start(work_dir, workers)
        kill = kill_after_epoch if run.killed is None else None
        failed = _watch(processes, work_dir, deadline, kill)
        if failed is not None and failed.startswith(KILLED):
            run.killed = workers - 1
        if failed is None:
            run.results = [_read_result(work_dir, index) for index in range(workers)]
            return run
        if time.monotonic() > deadline:
            break
        restart = f"starting the {workers} workers again from the last backup"
        print(f"{failed}: {restart}", file=sys.stderr)
    raise WorkerError(f"the workers did not finish (logs in {work_dir}): {failed}")


def _read_settings(work_dir: Path) -> dict[str, Any] | None:
    try:
        return json.loads((work_dir / "settings.json").read_text())
    except (OSError, ValueError):
        return None


def backup_dir(work_dir: Path) -> Path:
    """Where the chief keeps its ``BackupAndRestore`` backup."""
    return Path(work_dir) / "backup"


def backup_epoch(work_dir: Path) -> int | None:
    """The epochs the backup holds (``None`` without one)."""
    try:
        metadata = json.loads((backup_dir(work_dir) / "training_metadata.json").read_text())
        return int(metadata["epoch"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _start(work_dir: Path, workers: int) -> list[subprocess.Popen]:
    ports = free_ports(workers)
    processes = []
    for index in range(workers):
        env = {**os.environ, "TF_CONFIG": json.dumps(cluster_spec(ports, index))}
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        log = open(work_dir / f"worker-{index}.log", "a")  # noqa: SIM115 (the child holds it)
        command = [sys.executable, "-m", "mnistlib.distribute", str(work_dir), str(os.getpid())]
        processes.append(subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT))
        log.close()
        (work_dir / f"worker-{index}.pid").write_text(str(processes[-1].pid))
    return processes


def _watch(
    processes: list[subprocess.Popen], work_dir: Path, deadline: float, kill_after: int | None
) -> str | None:
    """Wait for the workers; ``None`` when all finished, else why they were stopped."""
    reason = None
    while reason is None:
        codes = [process.poll() for process in processes]
        if all(code == 0 for code in codes):
            return None
        failed = [(i, code) for i, code in enumerate(codes) if code not in (None, 0)]
        if failed:
            index, code = failed[0]
            reason = f"worker {index} exited with {_describe_exit(code)}"
        elif time.monotonic() > deadline:
            reason = "timed out"
        elif kill_after is not None and (backup_epoch(work_dir) or 0) >= kill_after:
            processes[-1].send_signal(signal.SIGKILL)
            processes[-1].wait()
            reason = f"{KILLED} {len(processes) - 1}, as asked"
        else:
            time.sleep(0.2)
    _stop(processes)
    return reason


def _stop(processes: list[subprocess.Popen]) -> None:
    """Stop the workers still running (a worker waiting for a dead one never returns)."""
    for process in processes:
        if process.poll() is None:
            process.terminate()
    for process in processes:
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _describe_exit(code: int) -> str:
    if code < 0:
        return f"signal {signal.Signals(-code).name}"
    return f"status {code}"


def _read_result(work_dir: Path, index: int) -> dict[str, Any]:
    path = work_dir / f"worker-{index}.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise WorkerError(f"{path}: worker {index} finished without a readable result") from error


# What runs in each worker process.


class ChiefBackup(keras.callbacks.BackupAndRestore):
    """Keras's ``BackupAndRestore``, written by the chief alone and read by every worker.

    Each worker restores the same backup, so all resume from the same epoch
    with the same weights. Two backups are kept (``double_checkpoint``): a
    worker killed while writing one leaves the other.
    """

    def __init__(self, directory: Path, is_chief: bool) -> None:
        super().__init__(str(directory), double_checkpoint=True)
        self.is_chief = is_chief

    def _save_model(self) -> None:
        if self.is_chief:
            super()._save_model()

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        if self.is_chief:  # the chief removes the backup once training is done
            super().on_train_end(logs)


def mend_keras_for_multi_worker(model: keras.Model) -> None:
    """Work around two faults of Keras 3's ``model.fit`` under ``MultiWorkerMirroredStrategy``
    (keras-team/keras#20585, open since Keras 3.7; still in 3.15).

    1. Before training, Keras takes a first batch to build the model, and
       averages it across workers with ``strategy.reduce``, which fails on
       several workers. Any worker's own batch has the right shapes: it is used.
    2. After each step, Keras averages the loss and metrics across workers
       along an axis that a single number does not have. They are averaged as
       they are (``axis=None``), so every worker logs the same numbers and
       callbacks such as ``EarlyStopping`` decide the same on every worker.
    """
    import types

    import tensorflow as tf
    from keras.src import tree
    from keras.src.backend.tensorflow import trainer

    def local(value: Any) -> Any:
        if isinstance(value, tf.distribute.DistributedValues):
            return model.distribute_strategy.experimental_local_results(value)[0]
        return value

    def build_from_a_local_batch(self: Any, iterator: Any = None, data_batch: Any = None) -> None:
        if iterator is not None:
            for _, _, batches in iterator:
                data_batch = tree.map_structure(local, next(batches))
                break
        with self.distribute_strategy.scope():
            self._symbolic_build(data_batch=data_batch)

    model._maybe_symbolic_build = types.MethodType(build_from_a_local_batch, model)
    if getattr(trainer.reduce_per_replica, "mended", False):
        return
    keras_reduce = trainer.reduce_per_replica

    def reduce_per_replica(values: Any, strategy: Any, reduction: str) -> Any:
        if reduction in ("auto", "mean") and trainer._collective_all_reduce_multi_worker(strategy):
            return tree.map_structure(lambda v: strategy.reduce("MEAN", v, axis=None), values)
        return keras_reduce(values, strategy, reduction)

    reduce_per_replica.mended = True  # type: ignore[attr-defined]
    trainer.reduce_per_replica = reduce_per_replica


def _watch_parent(parent: int) -> None:
    """End this worker if its launcher goes away (the processes stop by themselves)."""

    def watch() -> None:
        while True:
            if os.getppid() != parent:
                os._exit(3)
            time.sleep(1)

    threading.Thread(target=watch, daemon=True).start()


def worker_main(work_dir: Path, parent: int) -> int:
    """One worker: train under ``MultiWorkerMirroredStrategy`` and write its result."""
    _watch_parent(parent)
    import hashlib

    import numpy as np
    import tensorflow as tf

    from mnistlib.cache import EpochTimer
    from mnistlib.configs import TrainConfig
    from mnistlib.data import one_hot
    from mnistlib.store import atomic_write
    from mnistlib.training import _seeded_model, book_callbacks, prepare_data

    settings = json.loads((work_dir / "settings.json").read_text())
    task = json.loads(os.environ["TF_CONFIG"])["task"]["index"]
    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    config = TrainConfig(**settings["config"])
    data = prepare_data(config.validation_fraction)
    images = settings["images"] or len(data.x_fit)
    x, y = data.x_fit[:images], one_hot(data.y_fit[:images])
    with strategy.scope():
        model = _seeded_model(config, images)  # as load_or_train builds it
    mend_keras_for_multi_worker(model)
    timer = EpochTimer()
    backup = ChiefBackup(backup_dir(work_dir), task == 0)
    started = time.perf_counter()
    history = model.fit(
        x,
        y,
        validation_data=(data.x_val, one_hot(data.y_val)),
        epochs=config.epochs,
        batch_size=config.batch_size,
        callbacks=[backup, *book_callbacks(config), timer],
        verbose=2,
    )
    test_loss, test_accuracy = model.evaluate(data.x_test, one_hot(data.y_test), verbose=0)
    weights = hashlib.sha256()
    for array in model.get_weights():
        weights.update(np.ascontiguousarray(array).tobytes())
    result = {
        "worker": task,
        "replicas": strategy.num_replicas_in_sync,
        "first_epoch": history.epoch[0],  # after a restart, the epoch it resumed at
        "epoch_seconds": timer.seconds,
        "fit_seconds": round(time.perf_counter() - started, 2),
        "history": {k: [float(v) for v in vs] for k, vs in history.history.items()},
        "test_accuracy": float(test_accuracy),
        "test_loss": float(test_loss),
        "weights_sha256": weights.hexdigest(),
    }
    if task == 0:  # the chief keeps the model
        atomic_write(work_dir / "model.keras", model.save)
    text = json.dumps(result)
    atomic_write(work_dir / f"worker-{task}.json", lambda path: path.write_text(text))
    return 0


if __name__ == "__main__":
    sys.exit(worker_main(Path(sys.argv[1]), int(sys.argv[2])))
