"""No request crashes the archive: every route in ``app.url_map``, as every role and as nobody,
with generated path, query, form and JSON values. No answer may be a 5xx; afterwards the
health check answers, ``verify --all`` and ``audit verify`` pass."""

from __future__ import annotations

import json
import re
import string
from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from archive.auth.guards import ACCESS_ATTRIBUTE
from archive.auth.permissions import PERMISSIONS
from archive.models import ROLES
from tests.archive.test_cli import run  # noqa: F401 - the CLI fixture, on the same database
from tests.conftest import csrf_token_of, login

REQUESTS = 1200
# Routes whose success would end the test's own sessions or tokens; each has tests of its own.
SESSION_ENDING = {"auth.logout", "auth.password", "accounts.deactivate", "accounts.change_role",
                  "accounts.reset_password", "accounts.revoke", "accounts_api.disable",
                  "accounts_api.change_role", "accounts_api.reset_password",
                  "accounts_api.revoke"}
PARAMETERS = ["page", "per_page", "q", "mrn", "type", "from", "to", "document_id", "version",
              "next", "sort", "versions", "department", "icd", "actor", "action", "outcome",
              "reason", "name", "dob", "date_of_death", "restricted", "comment", "role",
              "username", "full_name", "expires", "pending_seen", "doc_type", "preset",
              "contact", "issuer", "scope", "rules", "file", "format"]
TEXT = st.text(st.characters(codec="utf-8"), max_size=40)
NUMBERS = st.one_of(st.integers(-3, 3), st.integers(), st.sampled_from([2**31, 2**63, 10**30]))
VALUES = st.one_of(TEXT, NUMBERS.map(str), st.sampled_from(
    ["", "1", "MRN-1001", "discharge_summary", "2026-01-01", "9999-99-99", "-1", "NaN", "all",
     "staff1", "../../etc/passwd", "<script>x</script>", "\x00", "%", "*", "\"", "a" * 600]))
JSON_VALUES = st.recursive(
    st.one_of(st.none(), st.booleans(), NUMBERS, st.floats(allow_nan=False), TEXT),
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(st.sampled_from(PARAMETERS), inner, max_size=4)),
    max_leaves=12,
)
PATH_TEXT = st.one_of(st.sampled_from(["MRN-1001", "discharge_summary", "ghost", "*", "..",
                                       "clerk1"]),
                      st.text(string.ascii_letters + string.digits + "-_.%~", min_size=1,
                              max_size=40))
PATH_INT = st.one_of(st.integers(0, 4), NUMBERS.filter(lambda n: n >= 0))


@dataclass
class Fuzzer:
    app: object
    people: object
    web: dict = field(default_factory=dict)
    tokens: dict = field(default_factory=dict)
    sent: int = 0
    failures: list = field(default_factory=list)

    def client(self, who: str):
        """A logged-in browser for ``who`` (logged in again if a request ended its session)."""
        if who not in self.web or self.web[who].get("/").status_code != 200:
            client = self.app.test_client()
            assert login(client, who + "1").status_code == 302, who
            self.web[who] = client
        return self.web[who]

    def send(self, who: str, method: str, url: str, query: dict, form: dict, body):
        api = url.startswith("/api/") or url.startswith("/fhir/")
        headers = {}
        if api:
            client = self.app.test_client()
            if who != "nobody":
                headers = self.people.headers(who)
        elif who == "nobody":
            client = self.app.test_client()
        else:
            client = self.client(who)
            headers["X-CSRFToken"] = csrf_token_of(client.get("/").get_data(as_text=True))
        kwargs = {"query_string": query, "headers": headers}
        if method == "POST":
            if api and body is not None:
                kwargs.update(data=json.dumps(body), content_type="application/json")
            else:
                kwargs["data"] = form
        response = client.open(url, method=method, **kwargs)
        self.sent += 1
        if response.status_code >= 500:
            self.failures.append((who, method, url, query, form, body, response.status_code,
                                  response.get_data(as_text=True)[:300]))


def routes(app):
    for rule in app.url_map.iter_rules():
        if rule.endpoint in SESSION_ENDING:
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield rule, method


def fill_path(draw, rule) -> str:
    def value(match):
        converter = match.group(1) or ""
        return str(draw(PATH_INT)) if converter.startswith("int") else draw(PATH_TEXT)

    return re.sub(r"<(?:([^:<>]+):)?[^<>]+>", value, rule.rule)


@st.composite
def requests(draw, app):
    rule, method = draw(st.sampled_from(sorted(routes(app), key=lambda r: (r[0].rule, r[1]))))
    # Mostly someone the route lets in, so the generated values reach the view behind the guard.
    access = getattr(app.view_functions[rule.endpoint], ACCESS_ATTRIBUTE)
    allowed = sorted(ROLES) if access == "public" else sorted(PERMISSIONS[access])
    who = draw(st.one_of(st.sampled_from(allowed), st.sampled_from(allowed),
                         st.sampled_from([*ROLES, "nobody"])))
    query = draw(st.dictionaries(st.sampled_from(PARAMETERS), VALUES, max_size=4))
    form = draw(st.dictionaries(st.sampled_from(PARAMETERS), VALUES, max_size=5))
    body = draw(st.one_of(st.none(), JSON_VALUES))
    return who, method, fill_path(draw, rule), query, form, body


@pytest.fixture
def fuzzer(app, people, filed, run) -> Fuzzer:  # noqa: F811
    filed()  # one real document (id 1) and patient MRN-1001 for the ids the fuzzer tries
    assert run("reindex").exit_code == 0  # a search index, as the worker keeps one
    return Fuzzer(app, people)


def test_no_request_gets_a_server_error(app, fuzzer, run):  # noqa: F811
    @settings(max_examples=REQUESTS, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(request=requests(app))
    def fuzz(request):
        fuzzer.send(*request)

    fuzz()
    assert fuzzer.failures == []
    assert fuzzer.sent >= 1000
    assert app.test_client().get("/api/v1/health").status_code == 200
    verified = run("verify", "--all")
    assert verified.exit_code == 0, verified.output
    audit = run("audit", "verify")
    assert audit.exit_code == 0 and "intact" in audit.output, audit.output
