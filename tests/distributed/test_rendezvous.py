"""The launcher's rendezvous has no free-port race: the store holds its port from the moment the OS picks it until
the ranks are done, so no other process can take it in between, and the ranks join it as torchrun's workers do."""

from __future__ import annotations

import errno
import socket
from typing import Any

import pytest


def _bind(port: int) -> OSError | None:
    """Try to listen on 127.0.0.1:port as another process would; the error, or None when it could."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
            s.listen()
        except OSError as e:
            return e
    return None


def test_the_port_is_held_while_the_group_runs_and_released_after(launcher: Any) -> None:
    with launcher.rendezvous() as env, launcher.rendezvous() as other:
        port = int(env["MASTER_PORT"])
        assert env["MASTER_ADDR"] == "127.0.0.1" and env["TORCHELASTIC_USE_AGENT_STORE"] == "True"
        assert 0 < port < 2**16 and other["MASTER_PORT"] != env["MASTER_PORT"]  # each group its own store
        taken = _bind(port)
        assert taken is not None and taken.errno == errno.EADDRINUSE  # nobody can take it before the ranks join
    assert _bind(port) is None  # closed with the block


@pytest.mark.slow
def test_two_fresh_processes_join_through_the_hosted_store(launcher: Any) -> None:
    code = (
        "import torch, torch.distributed as dist\n"
        "dist.init_process_group('gloo', init_method='env://')\n"
        "t = torch.tensor([dist.get_rank() + 1])\n"
        "dist.all_reduce(t)\n"
        "print('sum', int(t), 'of', dist.get_world_size())\n"
        "dist.destroy_process_group()\n"
    )
    for _ in range(2):  # one store after another: nothing left over from the first group
        finished = launcher.launch(["-c", code], world=2)
        assert finished.codes == [0, 0], finished.log
        assert all("sum 3 of 2" in out for out in finished.outputs), finished.log
