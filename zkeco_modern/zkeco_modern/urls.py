"""URL configuration: the live monitor at the root, the admin, and the health endpoint."""

from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

from monitor.views import healthz

urlpatterns = [
    path("admin/", admin.site.urls),
    path("healthz", healthz, name="healthz"),
    path("", include("monitor.urls")),
]
