"""The extraction agent: one pydantic-ai `Agent` with a typed output (`Extraction`), whatever
answers it — the offline rules as a `FunctionModel`, a model string, or an OpenAI-compatible
server."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic_ai import Agent
from pydantic_ai.models import Model
from pydantic_ai.models.function import FunctionModel
from pydantic_ai.settings import ModelSettings

from tasktracker.knowledge.domain import offline_rules
from tasktracker.knowledge.domain.extraction import (
    INSTRUCTIONS,
    ChatLine,
    Extraction,
    parse_prompt,
    render_prompt,
)
from tasktracker.knowledge.settings import OFFLINE_MODEL, KnowledgeSettings
from tasktracker.servicekit.llm import (
    configured_model,
    llm_capabilities,
    rules_model,
    run_agent,
)

ExtractionAgent = Agent[None, Extraction]


def offline_rules_model() -> FunctionModel:
    """The deterministic rules of `domain/offline_rules.py`, answering through the same output
    tool an LLM would call."""
    return rules_model(OFFLINE_MODEL, lambda prompt: offline_rules.extract(parse_prompt(prompt)))


def build_model(settings: KnowledgeSettings) -> Model | str:
    return configured_model(
        settings.llm_model,
        base_url=settings.llm_base_url,
        api_key=settings.llm_api_key,
        offline_name=OFFLINE_MODEL,
        offline=offline_rules_model,
    )


def build_agent(settings: KnowledgeSettings, model: Model | str | None = None) -> ExtractionAgent:
    return Agent(
        model if model is not None else build_model(settings),
        output_type=Extraction,
        instructions=INSTRUCTIONS,
        retries=1,
        model_settings=ModelSettings(timeout=settings.llm_timeout_seconds, temperature=0),
        name="knowledge-extraction",
        capabilities=llm_capabilities(),
    )


async def extract_chunk(agent: ExtractionAgent, lines: Sequence[ChatLine]) -> Extraction:
    return (await run_agent(agent, render_prompt(lines))).output
