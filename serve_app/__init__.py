"""The Serve ingress: FastAPI app, routes, auth, CLI. Imports `actors`, never the reverse."""
