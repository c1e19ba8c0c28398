"""Simulated AWS Systems Manager Parameter Store: the waker's state, with the conditional create and
the one-update-at-a-time rule (TooManyUpdates)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from warmkeeper_sim.control_plane import client_error
from warmkeeper_sim.figures import figure

if TYPE_CHECKING:
    from warmkeeper_sim.world import World


class ParameterStore:
    def __init__(self, world: World) -> None:
        self.world = world
        self.values: dict[str, str] = {}
        self._busy_until: dict[str, float] = {}

    def _write(self, name: str, operation: str) -> None:
        now = self.world.kernel.now
        if self._busy_until.get(name, -1.0) > now:
            raise client_error(
                "TooManyUpdates",
                "There are concurrent updates for a resource that supports one update at a time.",
                operation,
            )
        self._busy_until[name] = now + figure("ssm.write_busy").draw(self.world.kernel.random)

    def get_parameters(self, Names: list[str], **_: Any) -> dict[str, Any]:
        found = [n for n in Names if n in self.values]
        answer: dict[str, Any] = {
            "Parameters": [{"Name": n, "Value": self.values[n], "Type": "String"} for n in found]
        }
        # The model gives these lists a minimum length of 1: a list with nothing in it is left out,
        # as the service model allows (the key is optional).
        missing = [n for n in Names if n not in self.values]
        if missing:
            answer["InvalidParameters"] = missing
        return answer

    def get_parameter(self, Name: str, **_: Any) -> dict[str, Any]:
        if Name not in self.values:
            raise client_error("ParameterNotFound", "", "GetParameter")
        return {"Parameter": {"Name": Name, "Value": self.values[Name], "Type": "String"}}

    def put_parameter(self, Name: str, Value: str, Overwrite: bool = False, **_: Any) -> dict[str, Any]:
        if not Overwrite and (
            Name in self.values or self._busy_until.get(Name, -1.0) > self.world.kernel.now
        ):
            # The conditional create: concurrent creators lose with ParameterAlreadyExists (assumed;
            # only overwrites and deletes are modelled to collide with TooManyUpdates).
            raise client_error("ParameterAlreadyExists", "The parameter already exists.", "PutParameter")
        self._write(Name, "PutParameter")
        self.values[Name] = Value
        return {"Version": 1, "Tier": "Standard"}

    def delete_parameter(self, Name: str, **_: Any) -> dict[str, Any]:
        self._write(Name, "DeleteParameter")
        if self.values.pop(Name, None) is None:
            raise client_error("ParameterNotFound", "", "DeleteParameter")
        return {}

    def delete_parameters(self, Names: list[str], **_: Any) -> dict[str, Any]:
        deleted = [n for n in Names if self.values.pop(n, None) is not None]
        missing = [n for n in Names if n not in deleted]
        answer: dict[str, Any] = {}
        if deleted:
            answer["DeletedParameters"] = deleted
        if missing:
            answer["InvalidParameters"] = missing
        return answer
