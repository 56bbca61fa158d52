"""A separate process for tests/sbcrules/test_processes.py: reads commands on stdin, answers JSON.

`route <bnumber>` looks a call up through this process's routing index (as a web worker would);
`peer <id>` and `rule <type> <condition> <peer>` write through the models, as the API does.
"""

from __future__ import annotations

import json
import os
import sys

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "telecomx.settings")

import django  # noqa: E402

django.setup()

from sbcrules.lookup import route_call  # noqa: E402
from sbcrules.models import Host, Peer, Rule  # noqa: E402
from sbcrules.serializers import route_answer  # noqa: E402


def main() -> None:
    for line in sys.stdin:
        command, *args = line.split()
        if command == "route":
            answer = route_answer(route_call(bnumber=args[0]))
        elif command == "peer":
            peer = Peer.objects.create(id=args[0])
            Host.objects.create(peer=peer, address="192.0.2.1")
            answer = {"ok": True}
        elif command == "rule":
            rule = Rule(type=args[0], condition=args[1], peer_id=args[2])
            rule.full_clean()
            rule.save()
            answer = {"ok": True}
        else:
            answer = {"error": f"unknown command {command}"}
        print(json.dumps(answer), flush=True)


if __name__ == "__main__":
    main()
