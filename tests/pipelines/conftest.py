"""The rehearsal's fixtures: one source remote and interpreter setup per test process, a fresh run per call."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pytest

from tests.pipelines.rehearsal.agent import PipelineRun, Run, Session
from tests.pipelines.rehearsal.organization import Organization, default_organization


@pytest.fixture(scope="session")
def rehearsal_session(tmp_path_factory: pytest.TempPathFactory) -> Session:
    return Session.create(tmp_path_factory.mktemp("rehearsal"))


@pytest.fixture
def rehearse(rehearsal_session: Session) -> Callable[..., Run]:
    """Run a pipeline of .pipelines/ (file name) with runtime parameters, a scenario, a trigger reason."""

    def run(
        pipeline: str,
        parameters: Mapping[str, Any] | None = None,
        scenario: Mapping[str, Any] | None = None,
        reason: str = "IndividualCI",
        source_version: str | None = None,
        organization: Organization | None = None,
    ) -> Run:
        return PipelineRun(
            rehearsal_session,
            pipeline,
            organization or default_organization(),
            parameters,
            scenario,
            reason,
            source_version,
        ).execute()

    return run
