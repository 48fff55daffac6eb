"""Telephony: the station's SIP engine (pjsua2, one thread), its events, the simulated line.

Nothing here imports Textual: the TUI subscribes to the engine's events and forwards them
to its own message queue.
"""
