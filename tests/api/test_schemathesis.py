"""Property-based run over the OpenAPI schema: no 5xx, responses match the schema.

Both valid (positive) and invalid (negative) requests are generated for every
operation; invalid ones must be refused with a documented 4xx, never a 5xx.

The API runs in a real uvicorn server over a seeded DB; requests carry the
write key so the batch operations are exercised too (on a private copy).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests
import schemathesis
from api_support import API_KEY, LiveServer, make_settings, seed
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from dsa110_contimg.api import create_app

#: Examples per operation: bounded so the run stays well under two minutes.
MAX_EXAMPLES = 10
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture(scope="module")
def live_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    root = tmp_path_factory.mktemp("schemathesis") / "data"
    seeded = seed(root, f"sqlite:///{root / 'state' / 'products.sqlite3'}")
    app = create_app(make_settings(seeded.root, seeded.url))
    with LiveServer(app) as server:
        yield server


def test_api_conforms_to_its_schema(live_api: LiveServer) -> None:
    # Driven by hand (not schemathesis' pytest plugin) to stay independent of pytest internals.
    api_schema = schemathesis.openapi.from_url(f"{live_api.url}/api/openapi.json")
    failures: list[str] = []
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) > 40
    runs = [(op, mode) for op in operations for mode in GenerationMode]
    for operation, mode in runs:

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def run(case) -> None:
            case.call_and_validate(
                base_url=live_api.url, headers={"X-API-Key": API_KEY}, checks=CHECKS, timeout=30
            )

        try:
            run()
        except Unsatisfiable:  # e.g. no invalid request exists for an operation without inputs
            assert mode is GenerationMode.NEGATIVE, operation.label
        except Exception as exc:  # collect every operation's failure, then report them all
            failures.append(f"{operation.label} ({mode.value}): {exc}")
    assert not failures, "\n\n".join(failures)
    served = requests.get(f"{live_api.url}/metrics", timeout=10).text
    counts = [float(line.rsplit(" ", 1)[1]) for line in served.splitlines()
              if line.startswith("dsa110_http_requests_total{")]  # fmt: skip
    assert sum(counts) > 5 * len(operations), "the run made too few requests to mean much"
    assert not any('status="5' in line for line in served.splitlines()
                   if line.startswith("dsa110_http_requests_total{"))  # fmt: skip
