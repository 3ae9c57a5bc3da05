"""The Django project of the Modern CommCenter: settings, URLs and the WSGI/ASGI entry points.

Configuration comes from the environment (DATABASE_URL, TZ_NAME, DJANGO_SECRET_KEY, ZKAGENT_*);
the agent's knobs are validated by `agent.conf`, never read from here directly.
"""
