"""``python -m vpcwatch``: the same as the ``vpcwatch`` command."""

from vpcwatch.cli import main

raise SystemExit(main())
