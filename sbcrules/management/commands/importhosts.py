"""`manage.py importhosts FILE`: peers' hosts, CSV `peer,host[,port[,transport[,state]]]`, all or nothing."""

from typing import Any

from sbcrules.importing import Importer, host_importer

from ._imports import ImportCommand


class Command(ImportCommand):
    help = (
        "Import peers' hosts from CSV (peer,host[,port[,transport[,state]]]; port 5060, udp and up when left out); "
        "the peers must exist; a host the peer already has is updated. --replace: every peer's hosts are replaced."
    )
    what = "hosts"

    def importer(self, options: dict[str, Any]) -> Importer:
        return host_importer()
