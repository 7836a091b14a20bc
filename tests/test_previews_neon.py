"""The Neon client against a fake Neon API on real HTTP: delete, 404, 429 with Retry-After, 423, 500, auth."""

from __future__ import annotations

import pytest

from cloudmake_pipelines.previews import CleanupFailed, NeonClient, ProviderUnavailable
from tests.support.fake_neon import API_KEY, FakeNeon
from tests.support.servers import free_port


def _client(url: str, key: str = API_KEY, **kwargs) -> NeonClient:
    options = {"backoff_seconds": 0.01, "max_backoff_seconds": 0.05, "max_attempts": 4, **kwargs}
    return NeonClient(key, url, **options)


@pytest.fixture
def neon():
    with FakeNeon() as fake:
        fake.add_branch("proj-1", "br-a")
        yield fake, fake.api_url


def test_delete_then_404_means_already_gone(neon):
    fake, url = neon
    with _client(url) as client:
        assert client.delete_branch("proj-1", "br-a") is True
        assert client.delete_branch("proj-1", "br-a") is False
    assert [r.status for r in fake.requests] == [200, 404] and all(r.bearer == API_KEY for r in fake.requests)
    assert fake.requests[0].path == "/api/v2/projects/proj-1/branches/br-a"


def test_429_waits_what_retry_after_says(neon):
    fake, url = neon
    fake.fail_next("/branches/br-a$", 429, headers={"Retry-After": "1"})
    with _client(url) as client:
        assert client.delete_branch("proj-1", "br-a") is True
    first, second = fake.deletes("br-a")
    assert (first.status, second.status) == (429, 200)
    assert 0.95 <= second.at - first.at < 5


def test_423_and_500_are_retried_with_backoff(neon):
    fake, url = neon
    for status in (423, 500, 503):
        fake.fail_next("/branches/br-a$", status)
    with _client(url) as client:
        assert client.delete_branch("proj-1", "br-a") is True
    assert [r.status for r in fake.deletes("br-a")] == [423, 500, 503, 200]


def test_persistent_500_gives_up_after_max_attempts(neon):
    fake, url = neon
    fake.fail_next("/branches/br-a$", 500, times=10)
    with _client(url, max_attempts=3) as client, pytest.raises(CleanupFailed) as err:
        client.delete_branch("proj-1", "br-a")
    assert "HTTP 500" in str(err.value) and "internal server error" in str(err.value)
    assert len(fake.deletes("br-a")) == 3 and ("proj-1", "br-a") in fake.branches


def test_a_retry_after_beyond_the_limit_is_left_for_the_next_run(neon):
    fake, url = neon
    fake.fail_next("/branches/br-a$", 429, headers={"Retry-After": "120"})
    with _client(url, max_wait_seconds=30) as client, pytest.raises(CleanupFailed) as err:
        client.delete_branch("proj-1", "br-a")
    assert "120s" in str(err.value) and "next run" in str(err.value) and len(fake.requests) == 1


def test_a_wrong_key_is_not_retried_and_never_shown(neon):
    fake, url = neon
    secret = "napi_wrong_key_0123456789abcdef"
    with _client(url, key=secret) as client, pytest.raises(ProviderUnavailable) as err:
        client.delete_branch("proj-1", "br-a")
    assert "401" in str(err.value) and "NEON_API_KEY" in str(err.value) and secret not in str(err.value)
    assert len(fake.requests) == 1 and fake.requests[0].bearer != API_KEY


def test_unreachable_neon_fails_after_retries():
    with _client(f"http://127.0.0.1:{free_port()}/api/v2", max_attempts=2) as client, \
            pytest.raises(CleanupFailed) as err:
        client.delete_branch("proj-1", "br-a")
    assert "ConnectError" in str(err.value)


def test_ids_that_are_not_neon_ids_are_refused_before_any_request(neon):
    fake, url = neon
    with _client(url) as client, pytest.raises(CleanupFailed) as err:
        client.delete_branch("proj-1", "../../projects")
    assert "neon_branch_id" in str(err.value) and fake.requests == []

