"""The test-wide guard: no test reaches beyond loopback (so no test can hit a real network)."""

import socket, pytest
def test_guard_blocks_tcp():
    s = socket.socket()
    with pytest.raises(AssertionError, match="tests talk to"):
        s.connect(("100.64.1.1", 80))
def test_guard_blocks_udp():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    with pytest.raises(AssertionError, match="tests talk to"):
        s.sendto(b"x", ("8.8.8.8", 53))
def test_guard_blocks_create_connection():
    with pytest.raises(AssertionError, match="tests talk to"):
        socket.create_connection(("10.0.0.1", 80), timeout=0.1)
