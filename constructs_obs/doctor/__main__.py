"""``python -m constructs_obs.doctor``: the same as the ``obs-doctor`` command."""

from constructs_obs.doctor.cli import main

raise SystemExit(main())
