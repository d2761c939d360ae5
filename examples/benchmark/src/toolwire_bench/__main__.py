"""`python -m toolwire_bench`: run the benchmark."""

from toolwire_bench import main

raise SystemExit(main())
