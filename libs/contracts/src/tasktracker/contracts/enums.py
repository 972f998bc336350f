"""Vocabularies shared by several services."""

from enum import StrEnum


class MessageKind(StrEnum):
    text = "text"
    photo = "photo"
    video = "video"
    voice = "voice"
    audio = "audio"
    document = "document"
    sticker = "sticker"
    animation = "animation"
    location = "location"
    contact = "contact"
    poll = "poll"
    service = "service"
    other = "other"


class Priority(StrEnum):
    """A proposed task's priority (issue 9's vocabulary)."""

    low = "low"
    medium = "medium"
    high = "high"
    critical = "critical"


class Category(StrEnum):
    """A proposed task's category (issue 9's vocabulary)."""

    bug = "bug"
    feature = "feature"
    improvement = "improvement"
    question = "question"
    chore = "chore"


class AtomKind(StrEnum):
    """What a knowledge atom records. The first seven are what extraction proposes (issue 8);
    `risk` and `other` stay for atoms created by hand."""

    problem = "problem"
    solution = "solution"
    decision = "decision"
    question = "question"
    insight = "insight"
    requirement = "requirement"
    fact = "fact"
    risk = "risk"
    other = "other"


class Role(StrEnum):
    """A user's role in one project. Each role includes the rights of the ones below it."""

    viewer = "viewer"
    pm = "pm"
    admin = "admin"

    @property
    def rank(self) -> int:
        return _ROLE_RANK[self]

    def allows(self, required: "Role | str") -> bool:
        """True if this role grants what `required` grants (admin ⊇ pm ⊇ viewer)."""
        return self.rank >= Role(required).rank


_ROLE_RANK: dict[Role, int] = {Role.viewer: 0, Role.pm: 1, Role.admin: 2}
