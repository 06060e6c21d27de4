"""Transports: HTTP API, forward WebSocket, and the server side of WebSocket."""
