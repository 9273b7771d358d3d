"""The session runtime: session hosts, session actors, turns, frame logs and channels."""
