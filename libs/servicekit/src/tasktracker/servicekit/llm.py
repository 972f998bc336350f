"""pydantic-ai plumbing that both LLM steps share (DESIGN.md §6), no business rules.

Which model a setting names (a pydantic-ai model string, a model served by an
OpenAI-compatible base URL, or a service's offline rules), deterministic rules answering
through the agent's output tool exactly as an LLM would, and the model name a result records.
Needs the `llm` extra (`tasktracker-servicekit[llm]`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

from pydantic import BaseModel, SecretStr
from pydantic_ai import Agent
from pydantic_ai.agent import AgentRunResult
from pydantic_ai.capabilities import Instrumentation
from pydantic_ai.messages import ModelMessage, ModelResponse, ToolCallPart, UserPromptPart
from pydantic_ai.models import Model
from pydantic_ai.models.function import AgentInfo, FunctionModel
from pydantic_ai.models.instrumented import InstrumentationSettings
from pydantic_ai.models.openai import OpenAIChatModel
from pydantic_ai.providers.openai import OpenAIProvider

from tasktracker.servicekit import tracing
from tasktracker.servicekit.metrics import LLM_DURATION, LLM_REQUESTS, LLM_TOKENS

OutputT = TypeVar("OutputT")


def last_user_prompt(messages: list[ModelMessage]) -> str:
    """The newest text prompt of a conversation (what a rules model answers)."""
    for message in reversed(messages):
        for part in getattr(message, "parts", ()):
            if isinstance(part, UserPromptPart) and isinstance(part.content, str):
                return part.content
    raise ValueError("no prompt to answer")


def answer_with(output: BaseModel, info: AgentInfo, model_name: str) -> ModelResponse:
    """A response that calls the agent's output tool with `output`, as an LLM would."""
    call = ToolCallPart(tool_name=info.output_tools[0].name, args=output.model_dump(mode="json"))
    return ModelResponse(parts=[call], model_name=model_name)


def rules_model(name: str, rules: Callable[[str], BaseModel]) -> FunctionModel:
    """Deterministic `rules` (prompt text in, typed output out) as a pydantic-ai model named
    `name`, so they run through the same agent and output type as a real model."""

    def answer(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        return answer_with(rules(last_user_prompt(messages)), info, name)

    return FunctionModel(answer, model_name=name)


def configured_model(
    model: str,
    *,
    base_url: str | None,
    api_key: SecretStr | None,
    offline_name: str,
    offline: Callable[[], Model],
) -> Model | str:
    """The model a service's settings name: its offline rules, a model served by an
    OpenAI-compatible server at `base_url`, or any pydantic-ai model string as it is
    (`openai:gpt-4o-mini`, `anthropic:…`, `ollama:…`)."""
    if model == offline_name:
        return offline()
    if base_url:
        key = api_key.get_secret_value() if api_key else "none"
        provider = OpenAIProvider(base_url=base_url, api_key=key)
        return OpenAIChatModel(model.removeprefix("openai:"), provider=provider)
    return model


def model_name(agent: Agent[Any, Any]) -> str:
    """What a result records as the model that produced it."""
    model = agent.model
    return model if isinstance(model, str) else getattr(model, "model_name", str(model))


def llm_capabilities() -> list[Instrumentation]:
    """An agent's `capabilities=`: pydantic-ai's own spans of the agent run and each model
    call while tracing is on (`servicekit.tracing`), without the prompts and answers (team
    chat stays out of the trace backend); none at all with tracing off."""
    if not tracing.enabled():
        return []
    settings = InstrumentationSettings(include_content=False, include_binary_content=False)
    return [Instrumentation(settings=settings)]


async def run_agent(agent: Agent[Any, OutputT], prompt: str) -> AgentRunResult[OutputT]:
    """`agent.run(prompt)`, counted and timed by model (`tt_llm_*`): the run's outcome, its
    duration and the tokens pydantic-ai's usage reports."""
    name = model_name(agent)
    started = time.perf_counter()
    try:
        result = await agent.run(prompt)
    except Exception:
        LLM_REQUESTS.labels(name, "error").inc()
        raise
    finally:
        LLM_DURATION.labels(name).observe(time.perf_counter() - started)
    LLM_REQUESTS.labels(name, "ok").inc()
    usage = result.usage
    LLM_TOKENS.labels(name, "input").inc(usage.input_tokens or 0)
    LLM_TOKENS.labels(name, "output").inc(usage.output_tokens or 0)
    return result
