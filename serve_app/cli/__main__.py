"""`python -m serve_app.cli` (what the tests, benches and docs run)."""

from serve_app.cli.main import main

raise SystemExit(main())
