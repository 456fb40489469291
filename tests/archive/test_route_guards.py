"""Every route declares who may use it, and means it: a test walks ``app.url_map``."""

from __future__ import annotations

import re

import pytest

from archive.auth.guards import ACCESS_ATTRIBUTE
from archive.auth.permissions import PERMISSIONS
from archive.models import ROLES
from tests.conftest import csrf_token_of, login

# Public on purpose: the login form, the health probe, the API's OpenAPI document, the
# stylesheet/script, and a release link's page and download (the token is the credential).
PUBLIC_ENDPOINTS = {"auth.login", "api.health", "static", "openapi.document",
                    "release_links.landing", "release_links.packet"}
SAMPLE_ARGUMENTS = {"mrn": "MRN-1001", "document_id": "1", "number": "1", "filename": "x.css",
                    "flag_id": "1", "grant_id": "1", "page": "1", "hold_id": "1",
                    "doc_type": "discharge_summary", "batch_id": "1", "item_id": "1",
                    "username": "staff1", "token_id": "1", "request_id": "1",
                    "link_id": "1", "token": "x", "part_id": "1", "name": "filing"}


def routes(app):
    for rule in app.url_map.iter_rules():
        view = app.view_functions[rule.endpoint]
        url = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", lambda m: SAMPLE_ARGUMENTS[m.group(1)], rule.rule)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield rule.endpoint, method, url, getattr(view, ACCESS_ATTRIBUTE, None)


def test_every_route_declares_its_access(app):
    undeclared = [endpoint for endpoint, _m, _u, access in routes(app) if access is None]
    assert undeclared == []
    public = {endpoint for endpoint, _m, _u, access in routes(app) if access == "public"}
    assert public == PUBLIC_ENDPOINTS
    unknown = {access for *_rest, access in routes(app)} - set(PERMISSIONS) - {"public"}
    assert unknown == set()


def test_anonymous_users_are_refused_everywhere_but_public_routes(app):
    client = app.test_client()
    checked = 0
    for endpoint, method, url, access in routes(app):
        if access == "public":
            continue
        response = client.open(url, method=method)
        if url.startswith("/api/"):
            assert response.status_code == 401, (endpoint, method)
            assert response.json["error"]["code"] == "authentication_required"
        elif method == "GET":
            assert response.status_code == 302, (endpoint, method)
            assert response.headers["Location"].startswith("/login")
        else:
            # A POST without a session has no valid CSRF token either: refused before the view.
            assert response.status_code in (302, 400), (endpoint, method)
        checked += 1
    assert checked >= 10


@pytest.mark.parametrize("role", ROLES)
def test_wrong_role_is_refused_on_every_guarded_route(app, people, role):
    web = app.test_client()
    assert login(web, role + "1").status_code == 302
    token = csrf_token_of(web.get("/").get_data(as_text=True))
    api = app.test_client()
    refused = 0
    for endpoint, method, url, access in routes(app):
        if access == "public" or role in PERMISSIONS[access]:
            continue
        if url.startswith("/api/"):
            response = api.open(url, method=method, headers=people.headers(role))
        else:
            response = web.open(url, method=method, headers={"X-CSRFToken": token})
        assert response.status_code == 403, (role, endpoint, method, response.status_code)
        refused += 1
    assert refused > 0


def test_no_route_deletes_anything(app):
    # Records are destroyed only through the disposition workflow (retention package).
    deleting = [rule.rule for rule in app.url_map.iter_rules()
                if {"DELETE", "PUT", "PATCH"} & rule.methods]
    assert deleting == []
