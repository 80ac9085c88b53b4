"""Issue 22: the same training on several devices (MirroredStrategy) and on several
worker processes (MultiWorkerMirroredStrategy), restarted after a kill."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from mnistlib.configs import TrainConfig
from mnistlib.distribute import (
    DeviceError,
    WorkerError,
    cluster_spec,
    free_ports,
    run_workers,
    use_logical_cpus,
)


@pytest.fixture
def mnist() -> None:
    from mnistlib.data import find_mnist

    if find_mnist() is None:
        pytest.skip("no MNIST on this machine; set MNIST_DATA")


def test_each_worker_is_told_the_whole_cluster_on_loopback_and_its_own_place():
    ports = free_ports(2)
    assert len(set(ports)) == 2
    spec = cluster_spec(ports, 1)
    assert spec["cluster"]["worker"] == [f"127.0.0.1:{port}" for port in ports]
    assert spec["task"] == {"type": "worker", "index": 1}


def test_more_devices_than_tensorflow_started_with_is_a_clear_error():
    import tensorflow as tf

    tf.constant(1.0) + 1.0  # TensorFlow has started in this process
    started = len(tf.config.list_logical_devices("CPU"))
    assert len(use_logical_cpus(started)) == started  # as many as there are: fine
    with pytest.raises(DeviceError, match="restart the kernel"):
        use_logical_cpus(started + 1)
    with pytest.raises(ValueError, match="at least 1"):
        use_logical_cpus(0)


def _train(tmp_path: Path, *options: str) -> dict[str, float]:
    """``python -m mnistlib train --model deeper-cnn --epochs 1 OPTIONS`` in a process of
    its own (devices are fixed when TensorFlow starts); its test accuracy and model file."""
    env = {**os.environ, "MNIST_OUTPUTS": str(tmp_path / "outputs")}
    command = [sys.executable, "-m", "mnistlib", "train", "--model", "deeper-cnn", "--epochs", "1"]
    result = subprocess.run(
        [*command, *options], env=env, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr[-3000:]
    accuracy = next(line for line in result.stdout.splitlines() if "test accuracy" in line)
    path = next(line for line in result.stdout.splitlines() if line.startswith("trained: "))
    return {"accuracy": float(accuracy.split()[2].rstrip("%,")), "path": path.split(": ")[1]}


def test_train_on_two_devices_is_within_normal_accuracy_of_one_device(tmp_path, mnist):
    one = _train(tmp_path)
    two = _train(tmp_path, "--devices", "2")
    assert two["path"] != one["path"]  # the cache keeps them apart
    assert one["accuracy"] > 96 and two["accuracy"] > 96  # one epoch of the deeper CNN
    # The same seed and global batch: the two runs differ only in how each batch's
    # gradient is summed (two halves, then all-reduced), so they stay close.
    assert abs(two["accuracy"] - one["accuracy"]) < 1.0


def test_two_workers_resume_after_one_is_killed_and_agree_on_the_weights(tmp_path, mnist):
    run = run_workers(
        TrainConfig("deeper-cnn", epochs=3), tmp_path, 2, images=6000, kill_after_epoch=1
    )
    assert run.starts == 2 and run.killed == 1  # killed once, then both started again
    assert run.backup_epoch_at_restart >= 1
    for result in run.results:
        assert result["replicas"] == 2
        assert result["first_epoch"] == run.backup_epoch_at_restart  # resumed, not restarted
        assert len(result["epoch_seconds"]) == 3 - run.backup_epoch_at_restart
    assert run.results[0]["weights_sha256"] == run.results[1]["weights_sha256"]
    assert run.results[0]["history"] == run.results[1]["history"]  # the same logs
    assert run.chief["test_accuracy"] > 0.9
    assert (tmp_path / "model.keras").is_file()
    assert not (tmp_path / "backup").exists()  # removed once training finished


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/status")
    return not (status.exists() and "State:\tZ" in status.read_text())


def test_workers_stop_by_themselves_when_their_launcher_is_killed(tmp_path, mnist):
    launcher = textwrap.dedent(f"""
        from mnistlib.configs import TrainConfig
        from mnistlib.distribute import run_workers
        run_workers(TrainConfig("deeper-cnn", epochs=50), {str(tmp_path)!r}, 2, images=6000)
    """)
    process = subprocess.Popen([sys.executable, "-c", launcher])
    pid_files = [tmp_path / f"worker-{index}.pid" for index in range(2)]
    deadline = time.monotonic() + 120
    while not all(path.exists() for path in pid_files) and time.monotonic() < deadline:
        time.sleep(0.2)
    pids = [int(path.read_text()) for path in pid_files]
    process.send_signal(signal.SIGKILL)
    process.wait()
    deadline = time.monotonic() + 30
    while any(_alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(_alive(pid) for pid in pids)


def test_workers_that_do_not_finish_in_time_are_stopped_with_a_clear_error(tmp_path, mnist):
    with pytest.raises(WorkerError, match="timed out"):
        run_workers(TrainConfig("deeper-cnn", epochs=50), tmp_path, 2, images=6000, timeout=5)
    for index in range(2):
        assert not _alive(int((tmp_path / f"worker-{index}.pid").read_text()))


def test_a_new_run_with_other_settings_does_not_resume_an_old_backup(tmp_path):
    backup = tmp_path / "backup"
    backup.mkdir()
    (backup / "training_metadata.json").write_text(json.dumps({"epoch": 2, "batch": 0}))
    (tmp_path / "settings.json").write_text(json.dumps({"config": "another run"}))
    with pytest.raises(WorkerError):  # no MNIST needed: the workers are stopped at once
        run_workers(TrainConfig("mlp", epochs=1), tmp_path, 2, restarts=0, timeout=0.01)
    assert not backup.exists()


def test_train_writes_tensorboard_logs_when_it_trains_and_says_so_when_it_reuses(
    tmp_path, monkeypatch, capsys, mnist
):
    from mnistlib.cli import main

    monkeypatch.setenv("MNIST_OUTPUTS", str(tmp_path / "outputs"))
    logs = tmp_path / "logs"
    arguments = ["train", "--model", "mlp", "--epochs", "1", "--tensorboard", str(logs)]
    assert main(arguments) == 0
    assert f"tensorboard --logdir {logs}" in capsys.readouterr().out
    for part in ("train", "validation"):  # Keras's TensorBoard writes both
        assert list((logs / part).glob("events.out.tfevents.*")), part
    assert main(arguments) == 0  # from the cache now
    assert "no TensorBoard logs" in capsys.readouterr().out


def test_tensorboard_logs_without_tensorboard_installed_say_how_to_install_it(monkeypatch):
    import importlib.util

    from mnistlib import training

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "tensorboard" else find_spec(name, *a),
    )
    with pytest.raises(ModuleNotFoundError, match="pip install tensorboard"):
        training._watchers(Path("logs"))
    assert training._watchers(None) == []
