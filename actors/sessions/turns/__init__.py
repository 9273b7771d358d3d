"""One turn of a session: the `Turn` protocol, what turns record, the flow and assistant turns."""
