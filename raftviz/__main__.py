"""``python -m raftviz``: the same as the ``raftviz`` command."""

from raftviz.cli import main

raise SystemExit(main())
