"""The chat WebSocket: route, per-socket relay, protocol, turn tracking, limits."""
