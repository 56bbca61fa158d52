"""Run the demo's call notify receiver on 127.0.0.1 until stopped (bin/run starts and stops it)."""

from __future__ import annotations

import os
import time

from django.core.management.base import BaseCommand

from console.demo_receiver import DemoReceiver, receiver_ports


class Command(BaseCommand):
    help = "Receive the demo's call events on 127.0.0.1 (DEMO_RECEIVER_PORT http, DEMO_RECEIVER_TCP_PORT tcp)."

    def handle(self, *args: object, **options: object) -> None:
        http_port, tcp_port = receiver_ports()
        receiver = DemoReceiver(http_port, tcp_port, echo=lambda line: self.stdout.write(line)).start()
        self.stdout.write(f"demo receiver on http://127.0.0.1:{http_port}/ and tcp://127.0.0.1:{tcp_port}")
        parent = os.getppid()
        try:
            while os.getppid() == parent:  # the script that started it is gone: stop too
                time.sleep(1)
        except KeyboardInterrupt:
            pass
        finally:
            receiver.stop()
