"""``python -m cnnlabs`` is the same as the ``cnnlabs`` console script."""

from cnnlabs.cli import main

raise SystemExit(main())
