"""What the routes delegate to: `check_*` validates input, `do_*` performs an action; objects
owned by users are loaded only through `serve_app.auth.access`."""
