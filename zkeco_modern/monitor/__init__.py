"""The operators' side: the live monitor page, its event stream and the health endpoint."""
