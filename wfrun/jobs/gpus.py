"""``wfrun run W.json --gpus N``: one video made by N processes, one per GPU, in step.

Every process runs the whole workflow — same seed, same nodes, same models on its own GPU —
and only the transformer's forwards are shared out: with context parallelism active
(:mod:`wfrun.sampling.context_parallel`) each rank computes ``1/N`` of the tokens of every
forward, so the samplers advance together and each rank holds the same latents after each
step. The rest (text encoders, VAE) is repeated on every rank: it is a few percent of a
job (bench/RESULTS.md) and repeating it costs no communication.

The command's own process is rank 0: it prints the progress and writes the outputs. Ranks
1..N-1 are spawned processes (``torch.multiprocessing``, start method ``spawn``) in a
process group of their own, so Ctrl-C in the terminal reaches rank 0 only; rank 0 stops
between steps and the others, then waiting in the next exchange, are terminated. They write
into temporary folders removed at the end. A rank that fails stops the run: its error is
printed and the others are ended.

Backends: NCCL on CUDA (rank ``r`` on ``cuda:r``), gloo on the CPU (tests, and proof on a
machine without GPUs).
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import socket
import sys
import tempfile
import threading
import time
import traceback
from datetime import timedelta
from pathlib import Path
from typing import Any

from wfrun.jobs.run import EXIT_PROBLEMS, EXIT_USAGE, JobError, JobReport, RunOptions, execute, prepare
from wfrun.lean_imports import keep_unused_packages_out
from wfrun.long_lived import own_process
from wfrun.sampling import context_parallel

#: How long a rank waits for the others in one exchange before giving up (model loading
#: differs between ranks by seconds, not this).
EXCHANGE_TIMEOUT = timedelta(minutes=30)
#: After a rank failed, how long rank 0 may take to notice before the command exits anyway.
FAILURE_GRACE_S = 10.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def check_gpus(n: int, device: str) -> None:
    """Refuse ``--gpus N`` where the run cannot have N processes on N devices."""
    if n < 1:
        raise JobError(f"--gpus {n}: give a number of GPUs of 1 or more", exit_code=EXIT_USAGE)
    if device.startswith("cuda"):
        import torch

        have = torch.cuda.device_count()
        if have < n:
            raise JobError(f"--gpus {n}: this machine has {have} CUDA device(s)", exit_code=EXIT_USAGE)
    elif n > (os.cpu_count() or 1):
        raise JobError(f"--gpus {n} --device cpu: more processes than the {os.cpu_count()} CPU cores here",
                       exit_code=EXIT_USAGE)


def _init(rank: int, world: int, port: int, device: str, mode: str) -> None:
    import torch
    import torch.distributed as dist

    cuda = device.startswith("cuda")
    if cuda:
        torch.cuda.set_device(rank)
    else:  # N processes share the cores
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // world))
    dist.init_process_group("nccl" if cuda else "gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank,
                            world_size=world, timeout=EXCHANGE_TIMEOUT)
    context_parallel.activate(mode)


def _finish() -> None:
    import torch.distributed as dist

    context_parallel.deactivate()
    if dist.is_initialized():
        dist.destroy_process_group()


def _end_with_parent(parent: int) -> None:
    """End this rank when rank 0's process (``parent``) is gone: killed outright, it cannot
    end us, and a rank waiting in an exchange (or for the others to connect, inside C++ code
    that holds Python's lock) would wait until the timeout. On Linux the kernel sends
    SIGTERM on the parent's death (``prctl(PR_SET_PDEATHSIG)``); elsewhere a thread polls."""
    if sys.platform.startswith("linux"):
        import ctypes
        import signal

        try:
            ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGTERM), 0, 0, 0)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass
        else:
            if os.getppid() != parent:  # it died before the call
                os._exit(EXIT_PROBLEMS)
            return

    def watch() -> None:
        while True:
            time.sleep(1.0)
            if os.getppid() != parent:
                os._exit(EXIT_PROBLEMS)

    threading.Thread(target=watch, daemon=True, name="wfrun-parent-watch").start()


def _follower(rank: int, world: int, port: int, path: str, options: RunOptions, mode: str, device: str,
              errors: Any, parent: int) -> None:
    """Rank 1..N-1: the same run, outputs to a temporary folder, no progress."""
    keep_unused_packages_out()  # a spawned process: nothing of the parent's sys.modules
    own_process()  # wfrun's own process: the collector skips what imports made (long_lived)
    os.setpgrp()  # Ctrl-C in the terminal goes to rank 0, which ends the others
    _end_with_parent(parent)
    scratch = tempfile.mkdtemp(prefix=f"wfrun-rank{rank}-")
    try:
        _init(rank, world, port, device, mode)
        mine = dataclasses.replace(options, output_dir=Path(scratch), device=device)
        execute(prepare(path, mine), mine, None)
    except JobError as err:
        errors.put((rank, str(err)))
        sys.exit(EXIT_PROBLEMS)
    except BaseException:  # noqa: BLE001 - reported to rank 0, which prints it
        errors.put((rank, traceback.format_exc(limit=4)))
        sys.exit(EXIT_PROBLEMS)
    finally:
        _finish()
        shutil.rmtree(scratch, ignore_errors=True)


def run_on_gpus(prepared: Any, options: RunOptions, n: int, mode: str = "ulysses", progress: Any = None,
                say: Any = None) -> JobReport:
    """Run the prepared workflow with its transformer split over ``n`` processes; rank 0 is
    this process and its report is returned. ``say(text)`` prints a failed rank's error."""
    import torch
    import torch.multiprocessing as mp

    device = options.device or ("cuda" if torch.cuda.is_available() else "cpu")
    check_gpus(n, device)
    if n == 1:
        return execute(prepared, options, progress)
    if options.compile == "auto":  # each rank would judge by its own timing: the split runs as asked or eagerly
        options = dataclasses.replace(options, compile="off")
    say = say or (lambda text: print(text, file=sys.stderr))
    port = _free_port()
    spawn = mp.get_context("spawn")
    errors = spawn.SimpleQueue()
    followers = [spawn.Process(target=_follower, args=(rank, n, port, str(prepared.path), options, mode, device,
                                                       errors, os.getpid()), daemon=True, name=f"wfrun-rank{rank}")
                 for rank in range(1, n)]
    for proc in followers:
        proc.start()
    done = threading.Event()

    def watch() -> None:  # a failed follower would leave rank 0 waiting in an exchange
        while not done.wait(0.5):
            failed = [p for p in followers if p.exitcode not in (None, 0)]
            if not failed:
                continue
            first = failed[0]
            rank, text = errors.get() if not errors.empty() else (followers.index(first) + 1,
                                                                    f"ended with exit code {first.exitcode}")
            say(f"error: rank {rank} of --gpus {n} failed: {text}")
            _end(followers)
            if not done.wait(FAILURE_GRACE_S):
                os._exit(EXIT_PROBLEMS)
            return

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    import torch

    threads = torch.get_num_threads()  # rank 0 is this process: its thread count is given back
    try:
        _init(0, n, port, device, mode)
        try:
            report = execute(prepared, dataclasses.replace(options, device=device), progress)
        except context_parallel.ContextParallelError as err:  # a feature the split cannot serve
            raise JobError(f"--gpus {n}: {err}", exit_code=EXIT_USAGE) from None
        except Exception as err:  # an exchange broken by a rank that failed (its error is printed)
            for proc in followers:
                proc.join(timeout=5)
            if any(p.exitcode not in (None, 0) for p in followers):
                raise JobError(f"--gpus {n}: stopped, another rank failed ({type(err).__name__}: {err})") from None
            raise
        if report.result is not None and report.result.interrupted:
            done.set()  # the followers are ended on purpose: not a failure to report
            _end(followers)
        for proc in followers:
            proc.join()
        failed = [p for p in followers if p.exitcode not in (None, 0) and not done.is_set()]
        if failed:
            raise JobError(f"--gpus {n}: {len(failed)} rank(s) failed")
        return report
    finally:
        done.set()
        _end(followers)
        _finish()
        torch.set_num_threads(threads)


def _end(procs: list) -> None:
    for proc in procs:
        if proc.is_alive():
            proc.terminate()
    for proc in procs:
        proc.join(timeout=10)
