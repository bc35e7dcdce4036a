"""What makes a run findable with Temporal's own tools: its memo and its typed search attributes.

Every run workflow (started by the launcher, a schedule or a parent) carries both, so
``temporal workflow list --query "RunStudioWorkflowId='echo-chain'"`` finds a definition's runs.
"""

from typing import Any, Final

from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes

TENANT: Final = SearchAttributeKey.for_keyword("RunStudioTenant")
WORKFLOW_ID: Final = SearchAttributeKey.for_keyword("RunStudioWorkflowId")
WORKFLOW_VERSION: Final = SearchAttributeKey.for_int("RunStudioWorkflowVersion")
TRIGGER: Final = SearchAttributeKey.for_keyword("RunStudioTrigger")

SEARCH_ATTRIBUTES: Final = (TENANT, WORKFLOW_ID, WORKFLOW_VERSION, TRIGGER)
"""Every custom search attribute the project needs registered on the namespace."""


def run_search_attributes(*, tenant: str, workflow_id: str, version: int, trigger: str) -> TypedSearchAttributes:
    """The typed search attributes of one run workflow."""
    return TypedSearchAttributes(
        [
            SearchAttributePair(TENANT, tenant),
            SearchAttributePair(WORKFLOW_ID, workflow_id),
            SearchAttributePair(WORKFLOW_VERSION, version),
            SearchAttributePair(TRIGGER, trigger),
        ]
    )


def run_memo(*, tenant: str, workflow_id: str, version: int, trigger: str) -> dict[str, Any]:
    """The memo of one run workflow: what the search attributes say, readable in Temporal's UI."""
    return {"tenant": tenant, "workflowId": workflow_id, "workflowVersion": version, "trigger": trigger}


def create_commands(namespace: str) -> list[str]:
    """The ``temporal operator search-attribute create`` commands that register every attribute."""
    return [
        f"temporal operator search-attribute create --namespace {namespace} --name {key.name} "
        f"--type {key.indexed_value_type.name.capitalize()}"
        for key in SEARCH_ATTRIBUTES
    ]
