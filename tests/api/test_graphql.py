"""GraphQL over the same repositories: sources with light curves, images with measurements."""

from __future__ import annotations

import threading

import pytest
from api_support import LOCAL, Seed, make_settings
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from dsa110_contimg.api import create_app


def gql(client: TestClient, query: str, **variables) -> dict:
    response = client.post("/api/graphql", json={"query": query, "variables": variables})
    assert response.status_code == 200, response.text
    return response.json()


def test_source_with_light_curve_and_metrics(read_client: TestClient, template_seed: Seed) -> None:
    query = """query($id: Int!) { source(id: $id) {
        name variability { eta nEpochs }
        lightCurve(mjdMax: 61007.9) { mjd fluxJy normFluxJy imageId } } }"""
    data = gql(read_client, query, id=template_seed.source_ids[1])["data"]["source"]
    assert data["variability"] == {"eta": 4.0, "nEpochs": 3}
    assert len(data["lightCurve"]) == 2 and data["lightCurve"][0]["normFluxJy"] == 0.2
    missing = gql(read_client, query, id=999999)
    assert missing["data"]["source"] is None


def test_cone_search_images_and_jobs(read_client: TestClient, template_seed: Seed) -> None:
    data = gql(
        read_client,
        """{ sources(ra: 210, dec: 54.6, radiusDeg: 0.5, limit: 10) { id }
             images(limit: 2) { id qaGrade measurements(limit: 3) { sourceId fluxJy } }
             jobs(status: "pending") { runId status } }""",
    )["data"]
    assert len(data["sources"]) == 5
    assert len(data["images"]) == 2 and len(data["images"][0]["measurements"]) == 3
    assert {j["status"] for j in data["jobs"]} == {"pending"}
    job = gql(
        read_client,
        "query($r: String!) { job(runId: $r) { jobType } }",
        r=template_seed.run_ids["done"],
    )
    assert job["data"]["job"]["jobType"] == "image"


def test_bad_queries_are_graphql_errors(read_client: TestClient) -> None:
    too_many = gql(read_client, "{ sources(limit: 100000) { id } }")
    assert "limit" in too_many["errors"][0]["message"]
    half_cone = gql(read_client, "{ sources(ra: 1) { id } }")
    assert half_cone["errors"]
    unknown = read_client.post("/api/graphql", json={"query": "{ nothing }"})
    assert unknown.status_code == 200 and unknown.json()["errors"]


def _error(response) -> dict:
    assert response.status_code == 422, response.text
    return response.json()["error"]


def test_query_cost_is_limited_before_execution(read_client: TestClient) -> None:
    # 1000 sources, each with a page of up to 100 light-curve points: 101,000 objects
    dear = read_client.post(
        "/api/graphql", json={"query": "{ sources(limit: 1000) { lightCurve { mjd } } }"}
    )
    error = _error(dear)
    assert error["code"] == "query_too_costly" and error["details"]["cost"] == 101_000
    # Aliases each count: 30 lists of 1000 sources are 30,000 objects.
    aliases = " ".join(f"a{i}: sources(limit: 1000) {{ id }}" for i in range(30))
    assert _error(read_client.post("/api/graphql", json={"query": "{" + aliases + "}"}))
    # Limits given as variables and fragments count the same.
    query = """query($n: Int!) { sources(limit: $n) { ...F } }
               fragment F on Source { lightCurve(limit: 1000) { mjd } }"""
    assert _error(read_client.post("/api/graphql", json={"query": query, "variables": {"n": 100}}))
    cheap = gql(read_client, query, n=5)
    assert "errors" not in cheap and len(cheap["data"]["sources"]) == 5
    # Through GET as well.
    get = read_client.get(
        "/api/graphql", params={"query": "{ sources(limit: 1000) { lightCurve { mjd } } }"}
    )
    assert _error(get)["code"] == "query_too_costly"


def test_cost_limit_is_a_setting(template_seed: Seed) -> None:
    settings = make_settings(template_seed.root, template_seed.url, api_graphql_max_cost=10)
    with TestClient(create_app(settings), client=LOCAL) as client:
        assert gql(client, "{ sources(limit: 10) { id } }")["data"]["sources"]
        assert _error(client.post("/api/graphql", json={"query": "{ sources(limit: 11) { id } }"}))


def test_cone_is_checked_like_rest(read_client: TestClient) -> None:
    for args, name in (
        ("ra: 210, dec: 54.6, radiusDeg: 1e9", "radius_deg"),
        ("ra: 400, dec: 54.6, radiusDeg: 1", "ra"),
        ("ra: 210, dec: -91, radiusDeg: 1", "dec"),
    ):
        answer = gql(read_client, f"{{ sources({args}) {{ id }} }}")
        assert answer["data"] is None and name in answer["errors"][0]["message"], args
        rest = read_client.get(
            "/api/sources?"
            + args.replace(": ", "=").replace(", ", "&").replace("radiusDeg", "radius_deg")
        )
        assert rest.status_code == 422


def test_light_curves_are_paged(read_client: TestClient, template_seed: Seed) -> None:
    query = """query($id: Int!, $limit: Int!, $offset: Int!) { source(id: $id) {
        lightCurve(limit: $limit, offset: $offset) { mjd } } }"""
    source = template_seed.source_ids[1]
    every = gql(read_client, query, id=source, limit=1000, offset=0)["data"]["source"]["lightCurve"]
    assert len(every) >= 2
    first = gql(read_client, query, id=source, limit=1, offset=0)["data"]["source"]["lightCurve"]
    second = gql(read_client, query, id=source, limit=1, offset=1)["data"]["source"]["lightCurve"]
    assert first == every[:1] and second == every[1:2]
    refused = gql(read_client, query, id=source, limit=0, offset=0)
    assert "limit" in refused["errors"][0]["message"]


def test_no_graphql_subscriptions_or_websocket(read_client: TestClient) -> None:
    for protocol in ("graphql-transport-ws", "graphql-ws"):
        with pytest.raises(WebSocketDisconnect):
            with read_client.websocket_connect("/api/graphql", subprotocols=[protocol]) as ws:
                ws.send_json({"type": "connection_init"})
                ws.receive_json()


def test_resolvers_run_on_their_own_limiter(template_seed: Seed) -> None:
    """With GraphQL's only thread taken, GraphQL waits and REST still answers."""
    settings = make_settings(template_seed.root, template_seed.url, api_graphql_threads=1)
    app = create_app(settings)
    with TestClient(app, client=LOCAL) as client:
        limiter = app.state.graphql_limiter
        holder = object()
        client.portal.call(limiter.acquire_on_behalf_of_nowait, holder)
        answers: list = []
        waiting = threading.Thread(
            target=lambda: answers.append(gql(client, "{ jobs(limit: 2) { runId } }"))
        )
        waiting.start()
        waiting.join(1.0)
        assert waiting.is_alive() and not answers  # GraphQL's resolver waits for a thread
        assert client.get("/api/sources?limit=5").status_code == 200  # REST does not
        assert client.get("/api/jobs?limit=5").status_code == 200
        client.portal.call(limiter.release_on_behalf_of, holder)
        waiting.join(10)
        assert len(answers[0]["data"]["jobs"]) == 2
