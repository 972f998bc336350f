"""The extraction agent: one pydantic-ai `Agent` with a typed output (`Extraction`), whatever
answers it — the offline rules as a `FunctionModel`, a model string, or an OpenAI-compatible
server."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic_ai import Agent
from pydantic_ai.messages import ModelMessage, ModelResponse, ToolCallPart, UserPromptPart
from pydantic_ai.models import Model
from pydantic_ai.models.function import AgentInfo, FunctionModel
from pydantic_ai.models.openai import OpenAIChatModel
from pydantic_ai.providers.openai import OpenAIProvider
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

ExtractionAgent = Agent[None, Extraction]


def offline_rules_model() -> FunctionModel:
    """The deterministic rules of `domain/offline_rules.py`, answering through the same output
    tool an LLM would call."""

    def answer(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        prompt = _last_user_prompt(messages)
        extraction = offline_rules.extract(parse_prompt(prompt))
        return ModelResponse(
            parts=[
                ToolCallPart(
                    tool_name=info.output_tools[0].name, args=extraction.model_dump(mode="json")
                )
            ],
            model_name=OFFLINE_MODEL,
        )

    return FunctionModel(answer, model_name=OFFLINE_MODEL)


def _last_user_prompt(messages: list[ModelMessage]) -> str:
    for message in reversed(messages):
        for part in getattr(message, "parts", ()):
            if isinstance(part, UserPromptPart) and isinstance(part.content, str):
                return part.content
    raise ValueError("no prompt to extract from")


def build_model(settings: KnowledgeSettings) -> Model | str:
    if settings.llm_model == OFFLINE_MODEL:
        return offline_rules_model()
    if settings.llm_base_url:
        api_key = settings.llm_api_key.get_secret_value() if settings.llm_api_key else "none"
        name = settings.llm_model.removeprefix("openai:")
        return OpenAIChatModel(
            name, provider=OpenAIProvider(base_url=settings.llm_base_url, api_key=api_key)
        )
    return settings.llm_model  # any pydantic-ai model string: "openai:gpt-4o-mini", …


def build_agent(settings: KnowledgeSettings, model: Model | str | None = None) -> ExtractionAgent:
    return Agent(
        model if model is not None else build_model(settings),
        output_type=Extraction,
        instructions=INSTRUCTIONS,
        retries=1,
        model_settings=ModelSettings(timeout=settings.llm_timeout_seconds, temperature=0),
        name="knowledge-extraction",
    )


def model_name(agent: ExtractionAgent) -> str:
    model = agent.model
    return model if isinstance(model, str) else getattr(model, "model_name", str(model))


async def extract_chunk(agent: ExtractionAgent, lines: Sequence[ChatLine]) -> Extraction:
    result = await agent.run(render_prompt(lines))
    return result.output
