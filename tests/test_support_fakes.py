"""The fake-server base every fake stands on: what it records and the trouble it injects, over real HTTP."""

import threading
import time

import httpx
import pytest
from starlette.responses import JSONResponse

from tests.support.fakes import ANY, FakeServer, Recorded
from tests.support.webhook import WebhookReceiver


class Echo(FakeServer):
    """A minimal fake: one endpoint, a token check, an error shape and a header on every answer."""

    def __init__(self):
        super().__init__()
        self.route("/items/{name}", ["GET", "PUT"])(self._item)

    async def _item(self, request):
        return JSONResponse({"name": request.path_params["name"]})

    def admit(self, request: Recorded):
        return None if request.bearer == "t0k" else JSONResponse({"error": "who are you"}, status_code=401)

    def error_body(self, status: int):
        return {"error": f"injected {status}"}

    def headers(self):
        return {"x-served-by": "echo"}


def client(fake: FakeServer, token: str = "t0k") -> httpx.Client:
    return httpx.Client(base_url=fake.url, headers={"authorization": f"Bearer {token}"}, timeout=10)


def test_every_request_is_recorded_in_one_shape():
    with Echo() as fake, client(fake) as http:
        answer = http.put("/items/a%20b", params={"q": "1"}, json={"v": 2})
    assert answer.status_code == 200 and answer.headers["x-served-by"] == "echo"
    (seen,) = fake.requests
    assert (seen.method, seen.path, seen.query, seen.json(), seen.status) == ("PUT", "/items/a b", "q=1", {"v": 2}, 200)
    assert seen.bearer == "t0k" and seen.headers["content-type"] == "application/json"
    assert seen.at <= seen.finished


def test_fail_next_matches_by_method_and_path_in_order_then_answers_normally():
    with Echo() as fake, client(fake) as http:
        fake.fail_next("PUT /items/a$", 503, headers={"retry-after": "3"})
        fake.fail_next("/items/a$", 429, times=2)
        fake.fail_next(lambda r: r.path.endswith("/c"), 500, body="plain text")
        assert http.get("/items/b").status_code == 200  # no match: nothing used up
        first = http.put("/items/a")
        assert (first.status_code, first.headers["retry-after"], first.json()) == (503, "3", {"error": "injected 503"})
        assert first.headers["x-served-by"] == "echo"  # the API's own headers are on injected answers too
        assert [http.get("/items/a").status_code for _ in range(3)] == [429, 429, 200]
        third = http.get("/items/c")
        assert (third.status_code, third.text) == (500, "plain text")
    assert [r.status for r in fake.requests] == [200, 503, 429, 429, 200, 500]


def test_times_none_fails_every_request_until_cleared():
    with Echo() as fake, client(fake) as http:
        fake.fail_next(ANY, 502, times=None)
        assert [http.get(f"/items/{i}").status_code for i in range(4)] == [502] * 4
        fake.clear_faults()
        assert http.get("/items/x").status_code == 200


def test_the_apis_own_checks_come_before_injected_faults():
    with Echo() as fake:
        fake.fail_next(ANY, 500)
        with client(fake, token="wrong") as stranger:
            assert stranger.get("/items/a").status_code == 401
        with client(fake) as http:
            assert http.get("/items/a").status_code == 500, "the fault was still there for an admitted request"


def test_delay_next_answers_later():
    with Echo() as fake, client(fake) as http:
        fake.delay_next("/items/slow", 0.3)
        started = time.monotonic()
        assert http.get("/items/slow").status_code == 200
        assert time.monotonic() - started >= 0.3
        started = time.monotonic()
        http.get("/items/slow")
        assert time.monotonic() - started < 0.3, "only the next one"


def test_hold_keeps_a_request_until_release():
    with Echo() as fake, client(fake) as http:
        arrived = fake.hold("PUT /items/h")
        answers = []
        thread = threading.Thread(target=lambda: answers.append(http.put("/items/h").status_code))
        thread.start()
        assert arrived.wait(10)
        time.sleep(0.2)
        assert answers == [] and fake.requests[-1].status is None
        fake.release()
        thread.join(10)
    assert answers == [200] and fake.requests[-1].status == 200


def test_a_held_request_whose_client_goes_away_is_recorded_499():
    with Echo() as fake:
        arrived = fake.hold(ANY)
        with client(fake) as http, pytest.raises(httpx.ReadTimeout):
            http.get("/items/h", timeout=0.3)
        assert arrived.is_set()
        deadline = time.monotonic() + 5
        while fake.requests[0].status is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert fake.requests[0].status == 499


def test_webhook_receiver_keeps_mailboxes_apart_and_waits_for_late_alerts():
    with WebhookReceiver() as hook:
        httpx.post(hook.url_for("ops"), json={"key": "a"})
        httpx.post(hook.url_for("dev"), json={"key": "b"})
        late = threading.Timer(0.2, lambda: httpx.post(hook.url_for("ops"), json={"key": "c"}))
        late.start()
        assert [a["key"] for a in hook.wait_for(2, mailbox="ops")] == ["a", "c"]
        late.join()
        assert hook.alerts_to("dev") == [{"key": "b"}] and len(hook.alerts) == 3
        with pytest.raises(AssertionError, match="received 3 alert"):
            hook.wait_for(4, timeout=0.2)
