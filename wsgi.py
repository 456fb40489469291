"""WSGI entry point for gunicorn (docker-compose.yml): ``gunicorn wsgi:app``."""

from archive.app import create_app

app = create_app()
