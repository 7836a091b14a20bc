"""The shared GitHub client against the fake GitHub server: pagination, rate limits, retries, errors."""

import pytest
from starlette.responses import JSONResponse

from cloudmake_pipelines.github.client import GitHubClient, GitHubError, RateLimited
from tests.support.fake_github import FakeGitHub, paginated

TOKEN = "ghs_" + "T0k3n" * 8


@pytest.fixture
def github():
    fake = FakeGitHub(TOKEN)
    items = [{"id": i} for i in range(1, 251)]

    @fake.route("/repos/{owner}/{repo}/things", ["GET"])
    async def things(request):
        return paginated(request, items, wrap="things")

    @fake.route("/repos/{owner}/{repo}/issues/{number}/comments", ["GET", "POST"])
    async def comments(request):
        if request.method == "POST":
            return JSONResponse({"id": 1, "body": (await request.json())["body"]}, status_code=201)
        return paginated(request, [{"id": i} for i in range(1, 8)])

    with fake:
        yield fake, fake.url


def client(base, **kwargs):
    sleeps = []
    kwargs.setdefault("sleep", sleeps.append)
    return GitHubClient(TOKEN, base, **kwargs), sleeps


def test_pagination_follows_link_headers(github):
    fake, base = github
    gh, _ = client(base)
    assert [t["id"] for t in gh.paginate("/repos/o/r/things", items_key="things")] == list(range(1, 251))
    assert gh.requests_sent == 3
    assert [c["id"] for c in gh.paginate("/repos/o/r/issues/5/comments", per_page=3)] == list(range(1, 8))
    assert gh.rate_limit_remaining == 5000 - fake.rate_used


def test_sends_versioned_json_headers_and_posts(github):
    fake, base = github
    gh, _ = client(base)
    gh.request("POST", "/repos/o/r/issues/5/comments", json={"body": "hello"})
    last = fake.requests[-1]
    assert (last.method, last.path, last.json()) == ("POST", "/repos/o/r/issues/5/comments", {"body": "hello"})


def test_secondary_limit_honours_retry_after(github):
    fake, base = github
    fake.fail_next("GET /things$", 403, headers={"retry-after": "7"},
                   body={"message": "You have exceeded a secondary rate limit"})
    gh, sleeps = client(base)
    assert len(list(gh.paginate("/repos/o/r/things", items_key="things"))) == 250
    assert sleeps == [7.0]


def test_primary_limit_waits_until_reset_or_raises_when_too_long(github):
    fake, base = github
    fake.fail_next("GET /things$", 429, headers={"x-ratelimit-remaining": "0", "x-ratelimit-reset": "1000030"})
    gh, sleeps = client(base, clock=lambda: 1_000_000.0)
    list(gh.paginate("/repos/o/r/things", items_key="things"))
    assert sleeps == [30.0]
    fake.fail_next("GET /things$", 403, headers={"x-ratelimit-remaining": "0", "x-ratelimit-reset": "1003600"})
    gh, sleeps = client(base, clock=lambda: 1_000_000.0, max_wait_seconds=60)
    with pytest.raises(RateLimited) as err:
        list(gh.paginate("/repos/o/r/things", items_key="things"))
    assert err.value.wait_seconds == 3600 and sleeps == []


def test_server_errors_back_off_then_give_up_with_status(github):
    fake, base = github
    fake.fail_next("GET /things$", 502, times=2)
    gh, sleeps = client(base, backoff_seconds=0.5)
    assert len(list(gh.paginate("/repos/o/r/things", items_key="things"))) == 250
    assert sleeps == [0.5, 1.0]
    fake.fail_next("GET /things$", 500, times=10)
    gh, sleeps = client(base, max_attempts=3)
    with pytest.raises(GitHubError) as err:
        list(gh.paginate("/repos/o/r/things", items_key="things"))
    assert err.value.status == 500 and len(sleeps) == 2


def test_bad_token_is_a_clear_error_that_never_shows_the_token(github):
    _, base = github
    wrong = "ghp_" + "W" * 36
    gh = GitHubClient(wrong, base, sleep=lambda s: None)
    with pytest.raises(GitHubError) as err:
        gh.get("/repos/o/r/things")
    assert err.value.status == 401 and "Bad credentials" in str(err.value)
    assert wrong not in str(err.value) and wrong not in repr(err.value)


def test_unreachable_server_is_a_github_error():
    from tests.support.servers import free_port

    gh = GitHubClient(TOKEN, f"http://127.0.0.1:{free_port()}", max_attempts=2, sleep=lambda s: None)
    with pytest.raises(GitHubError, match="ConnectError"):
        gh.get("/x")


def test_a_date_form_retry_after_is_honoured_not_taken_as_60s(github):
    import email.utils

    fake, base = github
    fake.fail_next("GET /things$", 403, headers={"retry-after": email.utils.formatdate(1_000_012, usegmt=True)},
                   body={"message": "You have exceeded a secondary rate limit"})
    gh, sleeps = client(base, clock=lambda: 1_000_000.0)
    assert len(list(gh.paginate("/repos/o/r/things", items_key="things"))) == 250
    assert sleeps == [12.0]


def test_a_github_api_url_that_is_no_url_fails_at_once_naming_it(monkeypatch):
    import time

    from cloudmake_pipelines.errors import ConfigError

    monkeypatch.setenv("GITHUB_API_URL", "junk")
    sleeps = []
    started = time.monotonic()
    # From the environment: the settings model refuses it before any request.
    with pytest.raises(ConfigError, match=r"^GITHUB_API_URL='junk': expected an http:// or https:// URL") as err:
        GitHubClient(TOKEN, sleep=sleeps.append).get("/repos/o/r")
    assert time.monotonic() - started < 0.5 and sleeps == [] and err.value.exit_code == 2
    # Given directly (a resource or a test): the HTTP layer refuses it at once, naming the setting.
    monkeypatch.delenv("GITHUB_API_URL")
    started = time.monotonic()
    with pytest.raises(ConfigError, match=r"^GITHUB_API_URL: 'junk' is not a URL") as err:
        GitHubClient(TOKEN, "junk", sleep=sleeps.append).get("/repos/o/r")
    assert time.monotonic() - started < 0.5 and sleeps == [] and err.value.exit_code == 2
