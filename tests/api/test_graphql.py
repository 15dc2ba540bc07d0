"""GraphQL over the same repositories: sources with light curves, images with measurements."""

from __future__ import annotations

from api_support import Seed
from fastapi.testclient import TestClient


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
