"""A Redis Sentinel set-up on loopback for the tests: one master, one replica, three
sentinels (quorum 2), with short failure detection so a failover takes seconds."""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

import redis
from support import wait_until

from lightbus.redisserver import RedisServer, find_binary, free_port

SERVICE = "mymaster"


class SentinelSetup:
    def __init__(self) -> None:
        self.directory = Path(tempfile.mkdtemp(prefix="lightbus-sentinel-"))
        self.master = RedisServer(directory=str(self.directory / "master"))
        self.replica = RedisServer(directory=str(self.directory / "replica"))
        self.sentinel_ports = [free_port() for _ in range(3)]
        self.processes: list[subprocess.Popen[bytes]] = []

    def url(self, query: str = "") -> str:
        hosts = ",".join(f"127.0.0.1:{port}" for port in self.sentinel_ports)
        return f"redis+sentinel://{hosts}/{SERVICE}/0{query}"

    def start(self) -> SentinelSetup:
        for server in (self.master, self.replica):
            os.makedirs(server.directory, exist_ok=True)
        self.master.start()
        self.replica.extra = ["--replicaof", "127.0.0.1", str(self.master.port)]
        self.replica.start()
        for port in self.sentinel_ports:
            config = self.directory / f"sentinel-{port}.conf"
            config.write_text(
                f'port {port}\nbind 127.0.0.1\ndir {self.directory}\nlogfile ""\n'
                f"sentinel monitor {SERVICE} 127.0.0.1 {self.master.port} 2\n"
                f"sentinel down-after-milliseconds {SERVICE} 1000\n"
                f"sentinel failover-timeout {SERVICE} 4000\n"
            )
            self.processes.append(
                subprocess.Popen(
                    [find_binary(), str(config), "--sentinel"],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    start_new_session=True,
                )
            )
        wait_until(self._ready, timeout=20, interval=0.1)
        return self

    def _ready(self) -> bool:
        for port in self.sentinel_ports:
            try:
                with redis.Redis(port=port, socket_timeout=1) as sentinel:
                    state = sentinel.sentinel_master(SERVICE)
            except redis.RedisError:
                return False
            if state["num-other-sentinels"] < 2 or state["num-slaves"] < 1:
                return False
        with redis.Redis(port=self.replica.port) as replica:
            return replica.info("replication")["master_link_status"] == "up"

    def master_port(self) -> int:
        with redis.Redis(port=self.sentinel_ports[0], socket_timeout=1) as sentinel:
            _, port = sentinel.sentinel_get_master_addr_by_name(SERVICE)
        return int(port)

    def failover(self) -> None:
        """``SENTINEL FAILOVER``: the replica is promoted, the master demoted."""
        with redis.Redis(port=self.sentinel_ports[0], socket_timeout=2) as sentinel:
            sentinel.execute_command("SENTINEL FAILOVER", SERVICE)

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
                process.wait(5)
        self.master.stop()
        self.replica.stop()
