"""servicekit.llm: deterministic rules answer through the agent's output tool; the model a
setting names."""

from __future__ import annotations

from pydantic import BaseModel, SecretStr
from pydantic_ai import Agent
from pydantic_ai.models.openai import OpenAIChatModel

from tasktracker.servicekit.llm import configured_model, model_name, rules_model


class Echo(BaseModel):
    words: list[str]


def echo_rules(prompt: str) -> Echo:
    return Echo(words=prompt.split())


async def test_rules_answer_the_last_prompt_through_the_output_type():
    agent = Agent(rules_model("echo-rules", echo_rules), output_type=Echo)
    result = await agent.run("fix the webhook")
    assert result.output == Echo(words=["fix", "the", "webhook"])
    assert model_name(agent) == "echo-rules"


def test_the_setting_names_offline_rules_a_served_model_or_a_model_string():
    def offline():
        return rules_model("echo-rules", echo_rules)

    def pick(model, base_url=None):
        return configured_model(
            model,
            base_url=base_url,
            api_key=SecretStr("k"),
            offline_name="echo-rules",
            offline=offline,
        )

    assert pick("echo-rules").model_name == "echo-rules"
    served = pick("openai:llama3.1", base_url="http://127.0.0.1:9/v1")
    assert isinstance(served, OpenAIChatModel)
    assert served.model_name == "llama3.1"
    assert pick("anthropic:claude-sonnet-4-5") == "anthropic:claude-sonnet-4-5"
    assert model_name(Agent("test", output_type=Echo)) == "test"
