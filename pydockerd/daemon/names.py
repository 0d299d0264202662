"""Container names: validation, reservation and Docker-style random names."""
from __future__ import annotations

import random
import re

from ..errors import Conflict, InvalidParameter

VALID_NAME = re.compile(r"^/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$")

# Our own word lists (adjective_scientist), in the spirit of Docker's generated names.
_LEFT = [
    "agile", "amazing", "bold", "brave", "calm", "clever", "cool", "crisp", "dazzling", "eager",
    "elegant", "fervent", "focused", "gallant", "gentle", "happy", "hopeful", "jolly", "keen", "kind",
    "lucid", "merry", "modest", "nimble", "noble", "patient", "quiet", "quirky", "relaxed", "serene",
    "sharp", "stoic", "sweet", "tender", "trusting", "upbeat", "vibrant", "wise", "witty", "zealous",
]
_RIGHT = [
    "agnesi", "babbage", "bohr", "curie", "darwin", "dijkstra", "einstein", "euler", "faraday",
    "fermi", "galileo", "gauss", "hopper", "hypatia", "kepler", "knuth", "lamarr", "lovelace",
    "maxwell", "meitner", "newton", "noether", "pascal", "planck", "ramanujan", "ritchie", "shannon",
    "thompson", "turing", "volta", "wozniak", "yalow",
]


def random_name(attempt: int = 0) -> str:
    name = f"{random.choice(_LEFT)}_{random.choice(_RIGHT)}"
    if attempt:
        name += str(random.randint(0, 9))
    return name


class NameRegistry:
    """name → container ID; names are stored with their leading slash."""

    def __init__(self) -> None:
        self._by_name: dict[str, str] = {}

    @staticmethod
    def normalize(name: str) -> str:
        return name if name.startswith("/") else "/" + name

    def validate(self, name: str) -> str:
        if not VALID_NAME.match(name):
            raise InvalidParameter(
                f"Invalid container name ({name.lstrip('/')}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")
        return self.normalize(name)

    def reserve(self, name: str, cid: str) -> None:
        name = self.normalize(name)
        owner = self._by_name.get(name)
        if owner is not None and owner != cid:
            raise Conflict(
                f'Conflict. The container name "{name}" is already in use by container "{owner}". '
                "You have to remove (or rename) that container to be able to reuse that name.")
        self._by_name[name] = cid

    def generate(self, cid: str) -> str:
        for attempt in range(10):
            name = "/" + random_name(attempt)
            if name not in self._by_name:
                self._by_name[name] = cid
                return name
        name = "/" + cid[:12]
        self._by_name[name] = cid
        return name

    def release(self, name: str) -> None:
        self._by_name.pop(self.normalize(name), None)

    def get(self, name: str) -> str | None:
        return self._by_name.get(self.normalize(name))
