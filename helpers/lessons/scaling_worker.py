"""Lesson 08's worker program: one process of the demo's two-worker MultiWorkerMirroredStrategy.

`run_workers(folder)` starts it twice through `workers.launch`, which gives each process its
`TF_CONFIG`; the lesson runs it that way. As a program,

    python -m helpers.lessons.scaling_worker --output DIR [--image-size N] [--epochs N] [--seed N]

each worker

1. creates its strategy before anything else in TensorFlow runs: the strategy reads `TF_CONFIG`,
   starts this worker's server and fixes its devices, which TensorFlow allows only before its
   first op. It is `distribution.multi_worker_strategy()`, a
   `tf.distribute.MultiWorkerMirroredStrategy` whose `reduce` takes what Keras 3's `fit` gives it;
2. fine-tunes with `scaling_demo.run(strategy, ...)` at `scaling_demo.PER_REPLICA_BATCH_SIZE` (8)
   images per replica. Each worker is one replica, so a step's global batch is 8 x 2 workers = 16:
   each worker computes the gradient of its 8 images, the two gradients are averaged over gRPC
   (an all-reduce), and both apply the same update;
3. writes its final weights to `DIR/worker_<index>.npz` (`write_weights`; `read_weights` reads
   them back).

Both workers end with the same weights, bit for bit, and these are the one-process run with
batches of 16 up to float rounding (`tests/test_workers.py` checks both). Without `TF_CONFIG` the
program refuses to start: on its own it would be a one-worker cluster, a global batch of 8.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import time
from collections.abc import Callable, Mapping, Sequence

from helpers.lessons import course

# Before any module that imports TensorFlow: its start-up lines would fill each worker's output.
course.import_tensorflow_quietly()

import numpy as np  # noqa: E402

from helpers.finetune import distribution, validation  # noqa: E402
from helpers.lessons import scaling_demo, workers  # noqa: E402

MODULE = "helpers.lessons.scaling_worker"  # what `workers.launch` runs


def weights_path(folder: str | os.PathLike, index: int) -> pathlib.Path:
    """Where worker `index` writes its final weights: `folder/worker_<index>.npz`.

    Example:

    >>> weights_path("results", 1).as_posix()
    'results/worker_1.npz'
    """
    index = validation.check_int("index", index, minimum=0)
    return pathlib.Path(folder) / f"worker_{index}.npz"


def write_weights(folder: str | os.PathLike, index: int, weights: list[np.ndarray]) -> pathlib.Path:
    """Writes worker `index`'s weights (`model.get_weights()`) into `folder`; returns the file.

    Example:

    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> path = write_weights(folder, 0, [np.zeros((2, 3)), np.ones(3)])
    >>> [array.shape for array in read_weights(folder, 0)]
    [(2, 3), (3,)]
    """
    path = weights_path(folder, index)
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {f"weights_{position}": np.asarray(array) for position, array in enumerate(weights)}
    np.savez(path, **arrays)
    return path


def read_weights(folder: str | os.PathLike, index: int) -> list[np.ndarray]:
    """Worker `index`'s weights, as `write_weights` wrote them, in `model.get_weights()` order.

    Raises:
        ValueError: if the worker wrote no weights into `folder`.
    """
    path = weights_path(folder, index)
    if not path.is_file():
        raise ValueError(
            f"folder must hold worker {index}'s weights, {path.name}. Received: folder={folder!r}"
        )
    with np.load(path) as archive:
        return [archive[f"weights_{position}"] for position in range(len(archive.files))]


def run_workers(
    folder: str | os.PathLike,
    image_size: int = 96,
    epochs: int = scaling_demo.EPOCHS,
    seed: int = 0,
    timeout: float = workers.TIMEOUT_SECONDS,
    echo: Callable[[str], object] | None = print,
    environment: Mapping[str, str] | None = None,
) -> list[list[np.ndarray]]:
    """Runs the demo in `scaling_demo.REPLICAS` worker processes; returns each one's weights.

    Lesson 08 calls it to fine-tune under `MultiWorkerMirroredStrategy`; the workers' output shows
    as it comes (`workers.launch`).

    Args:
        folder: str or path, where the workers write their weights (created if needed).
        image_size: int >= 32, the images' side. Defaults to 96.
        epochs: int >= 1. Defaults to `scaling_demo.EPOCHS` (2).
        seed: int >= 0, the model's, data's and shuffling seed. Defaults to 0.
        timeout: float > 0, the seconds the workers may take. Defaults to 300.
        echo: a callable taking one str, or None. Defaults to `print`.
        environment: a mapping of str to str or None, variables added to the workers'
            environment. Defaults to `None`.

    Returns:
        A list with each worker's final weights (a list of arrays, as `model.get_weights()`).

    Raises:
        ValueError: naming the argument, for a bad one.
        workers.WorkerError: if a worker fails or the workers time out.
    """
    arguments = command_line(folder, image_size, epochs, seed)
    folder = pathlib.Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(scaling_demo.REPLICAS):  # an earlier run's weights must not be read back
        weights_path(folder, index).unlink(missing_ok=True)
    workers.launch(
        MODULE,
        arguments,
        workers=scaling_demo.REPLICAS,
        timeout=timeout,
        echo=echo,
        environment=environment,
    )
    return [read_weights(folder, index) for index in range(scaling_demo.REPLICAS)]


def command_line(folder: str | os.PathLike, image_size: int, epochs: int, seed: int) -> list[str]:
    """The worker's command-line arguments for these settings (after a check of each).

    Example:

    >>> command_line("results", 32, 1, 0)
    ['--output', 'results', '--image-size', '32', '--epochs', '1', '--seed', '0']
    """
    image_size = validation.check_int("image_size", image_size, minimum=32)
    epochs = validation.check_int("epochs", epochs, minimum=1)
    seed = validation.check_int("seed", seed, minimum=0)
    return [
        *("--output", str(folder)),
        *("--image-size", str(image_size)),
        *("--epochs", str(epochs)),
        *("--seed", str(seed)),
    ]


def parse_arguments(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Reads the worker's command line (`sys.argv` when `argv` is None).

    Example:

    >>> parse_arguments(["--output", "results", "--image-size", "32"])
    Namespace(output='results', image_size=32, epochs=2, seed=0)
    """
    parser = argparse.ArgumentParser(
        prog=f"python -m {MODULE}", description="One worker of lesson 08's two-worker run."
    )
    parser.add_argument("--output", required=True, help="folder for worker_<index>.npz")
    parser.add_argument("--image-size", type=int, default=96, help="images' side (>= 32)")
    parser.add_argument("--epochs", type=int, default=scaling_demo.EPOCHS)
    parser.add_argument("--seed", type=int, default=0)
    arguments = parser.parse_args(argv)
    try:
        command_line(arguments.output, arguments.image_size, arguments.epochs, arguments.seed)
    except ValueError as error:
        parser.error(str(error))
    return arguments


def main(argv: Sequence[str] | None = None) -> None:
    """Runs one worker: the strategy first, then the demo; writes its weights."""
    arguments = parse_arguments(argv)
    try:
        index, count = workers.worker_task()
    except ValueError as error:
        raise SystemExit(
            f"{error}\nThis program is one worker of a cluster; start the workers with "
            f"workers.launch({MODULE!r}, [...]) or scaling_worker.run_workers(folder)."
        ) from None
    start = time.monotonic()
    strategy = distribution.multi_worker_strategy()  # first: before any other TensorFlow op
    replicas = strategy.num_replicas_in_sync
    batch_size = scaling_demo.PER_REPLICA_BATCH_SIZE
    name = f"worker {index} of {count}"
    print(
        f"{name}: global batch {batch_size * replicas} "
        f"({batch_size} per replica x {replicas} replicas), image size {arguments.image_size}, "
        f"{arguments.epochs} epoch(s)"
    )
    model = scaling_demo.run(
        strategy,
        per_replica_batch_size=batch_size,
        epochs=arguments.epochs,
        seed=arguments.seed,
        image_size=arguments.image_size,
    )
    steps = int(model.optimizer.iterations.numpy())
    path = write_weights(arguments.output, index, model.get_weights())
    print(f"{name}: done in {time.monotonic() - start:.1f} s, {steps} steps; weights in {path}")


if __name__ == "__main__":
    main()
