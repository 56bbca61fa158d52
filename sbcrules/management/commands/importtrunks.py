"""`manage.py importtrunks FILE`: trunks, CSV `customer,name,sources[,maxCalls[,callsPerSecond[,trustCustomerHeader[,state]]]]`, all or nothing."""

from typing import Any

from sbcrules.importing import TrunkImporter, trunk_importer

from ._imports import ImportCommand


class Command(ImportCommand):
    help = (
        "Import trunks from CSV (customer,name,sources,maxCalls,callsPerSecond,trustCustomerHeader,state; sources separated "
        "by spaces; empty limits: none; trustCustomerHeader true/false; state ACTIVE or DISABLED). A customer's trunk of the "
        "same name is updated. All or nothing: no source may be in two trunks. --replace: every trunk is deleted first."
    )
    what = "trunks"

    def importer(self, options: dict[str, Any]) -> TrunkImporter:
        return trunk_importer()
