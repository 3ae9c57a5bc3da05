"""The Django app of the Modern CommCenter agent (replaces ZKECO's DataCommCenter).

Models and admin for devices, events and the legacy command queue; `conf` validates the
global knobs; `grammar` parses legacy commands; `persistence` is the ORM side the agent
calls from its single database thread. `zkpull` does the panel I/O and knows nothing of Django.
"""
