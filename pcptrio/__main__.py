"""``python -m pcptrio`` — the same as the ``pcptrio`` command."""

from .cli import main

raise SystemExit(main())
