import socket

from tasktracker.devstack.embedded import free_port


def test_free_ports_are_distinct_bindable_and_outside_the_ephemeral_range():
    with open("/proc/sys/net/ipv4/ip_local_port_range") as ranges:
        ephemeral_low = int(ranges.read().split()[0])
    ports = [free_port() for _ in range(200)]
    assert len(set(ports)) == len(ports)
    assert all(1024 < port < ephemeral_low for port in ports)
    for port in ports[:20]:
        with socket.socket() as server:
            server.bind(("127.0.0.1", port))
            server.listen()
