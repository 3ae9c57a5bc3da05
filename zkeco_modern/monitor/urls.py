"""URLs of the live monitor (included at the site root)."""

from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.urls import path

from . import stream, views

app_name = "monitor"

urlpatterns = [
    path("", views.live, name="live"),
    path("stream/", stream.stream, name="stream"),
    path("commands/", views.command, name="command"),
    path(
        "login/",
        auth_views.LoginView.as_view(template_name="monitor/login.html"),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(next_page="monitor:login"), name="logout"),
]
