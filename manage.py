#!/usr/bin/env python
"""Django's command-line utility."""

import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "telecomx.settings")
    from django.core.management import execute_from_command_line

    from telecomx.startup import make_data_dirs

    make_data_dirs()
    execute_from_command_line(sys.argv)
