"""Stand-in for hashicorp/random: the `random_password` resource.

Follows terraform-provider-random v3.7.2 (commit bc2ddb552b4676d16997987a9bf2875c7b98d342):
schema from `passwordSchemaV3` and Create/Update in internal/provider/resource_password.go,
generation from internal/random/string.go (`CreateString`), plan rules from
internal/planmodifiers/{bool,map,string}/ and validation from internal/validators/boolvalidator.go.
"""

from __future__ import annotations

import secrets
import string
from typing import Any

import bcrypt
import tf.provider
from tf.gen import tfplugin_pb2 as pb
from tf.iface import CreateContext, DeleteContext, ReadContext, UpdateContext
from tf.provider import ProviderServicer, _decode_state, _encode_state
from tf.runner import run_provider
from tf.schema import Attribute, Schema
from tf.types import Bool, Map, Number, String, Unknown
from tf.utils import Diagnostics, _to_attribute_path

State = dict[str, Any]

DEFAULT_SPECIAL = "!@#$%&*()-_=+[]{}<>:?"
DIGITS = string.digits
LOWER = string.ascii_lowercase
UPPER = string.ascii_uppercase

# Optional+Computed arguments with a static default (booldefault/int64default in the source).
DEFAULTS: dict[str, Any] = {
    "special": True,
    "upper": True,
    "lower": True,
    "min_numeric": 0,
    "min_upper": 0,
    "min_lower": 0,
    "min_special": 0,
}
# Arguments with a plain RequiresReplace plan modifier.
REPLACE_ON_CHANGE = ("length", *DEFAULTS, "number", "numeric")
# Computed attributes with UseStateForUnknown: generated once, then kept from the state.
GENERATED = ("result", "bcrypt_hash", "id")
MIN_COUNTS = ("min_upper", "min_lower", "min_numeric", "min_special")

SCHEMA = Schema(
    version=3,
    attributes=[
        Attribute("keepers", Map(String()), optional=True),
        Attribute("length", Number(), required=True),
        Attribute("special", Bool(), optional=True, computed=True),
        Attribute("upper", Bool(), optional=True, computed=True),
        Attribute("lower", Bool(), optional=True, computed=True),
        Attribute("number", Bool(), optional=True, computed=True, deprecated=True),
        Attribute("numeric", Bool(), optional=True, computed=True),
        Attribute("min_numeric", Number(), optional=True, computed=True),
        Attribute("min_upper", Number(), optional=True, computed=True),
        Attribute("min_lower", Number(), optional=True, computed=True),
        Attribute("min_special", Number(), optional=True, computed=True),
        Attribute("override_special", String(), optional=True),
        Attribute("result", String(), computed=True, sensitive=True),
        Attribute("bcrypt_hash", String(), computed=True, sensitive=True),
        Attribute("id", String(), computed=True),
    ],
)


def known(value: Any) -> bool:
    return value is not None and value is not Unknown


def generate_password(params: State) -> str:
    """`CreateString`: the minimum counts first (each from its class, enabled or not), the rest from
    every enabled class, then shuffled; `secrets` stands in for crypto/rand."""
    specials = params["override_special"] or DEFAULT_SPECIAL
    classes = {"upper": UPPER, "lower": LOWER, "numeric": DIGITS, "special": specials}
    alphabet = "".join(chars for name, chars in classes.items() if params[name])
    if not alphabet:
        raise ValueError("the character set specified is empty")
    chosen = [secrets.choice(classes[name.removeprefix("min_")]) for name in MIN_COUNTS for _ in range(params[name])]
    chosen += [secrets.choice(alphabet) for _ in range(params["length"] - len(chosen))]
    secrets.SystemRandom().shuffle(chosen)
    return "".join(chosen)


def bcrypt_hash(password: str) -> str:
    # golang.org/x/crypto/bcrypt: DefaultCost 10, "$2a$" prefix, only the first 72 bytes hashed.
    return bcrypt.hashpw(password.encode()[:72], bcrypt.gensalt(10, prefix=b"2a")).decode()


def keepers_require_replace(config: Any, state: Any) -> bool:
    """`RequiresReplaceIfValuesNotNull`: adding or removing keys whose values are null is no change."""
    if config == state:
        return False
    config_map: dict[str, Any] = config if isinstance(config, dict) else {}
    if state is None:
        return any(value is not None for value in config_map.values())
    changed = any(value != state[key] if key in state else value is not None for key, value in config_map.items())
    return changed or any(key not in config_map for key in state)


def override_special_requires_replace(config: Any, state: Any) -> bool:
    """`RequiresReplaceIf(RequiresReplaceUnlessEmptyStringToNull)`: "" to null is an in-place update."""
    if config == state or config is Unknown:
        return False
    return config is not None or state is None or state != ""


class PasswordResource:
    def __init__(self, provider: RandomProvider) -> None:
        self.provider = provider

    @classmethod
    def get_name(cls) -> str:
        return "password"

    @classmethod
    def get_schema(cls) -> Schema:
        return SCHEMA

    def validate(self, diags: Diagnostics, type_name: str, config: State) -> None:
        length = config["length"]
        minimums = [config[name] for name in MIN_COUNTS]
        if known(length) and length < 1:
            diags.add_error(
                "Invalid Attribute Value", f"Attribute length value must be at least 1, got: {length}", path=["length"]
            )
        elif known(length) and not any(value is Unknown for value in minimums):
            total = sum(value for value in minimums if value is not None)
            if length < total:
                diags.add_error(
                    "Invalid Attribute Value",
                    f"Attribute length value must be at least sum of {' + '.join(MIN_COUNTS)}, got: {length}",
                    path=["length"],
                )
        for name in ("number", "numeric"):
            others = [config[other] for other in ("special", "upper", "lower")]
            # AtLeastOneOfTrue: an error only when this one and the three others are all configured false.
            if config[name] is False and all(other is False for other in others):
                diags.add_error(
                    "Invalid Attribute Combination",
                    f"At least one attribute out of [special,upper,lower,{name}] must be specified as true",
                    path=[name],
                )
        if known(config["number"]):
            diags.add_warning(
                "Attribute Deprecated", "**NOTE**: This is deprecated, use `numeric` instead.", path=["number"]
            )

    def plan_change(
        self, diags: Diagnostics, prior: State | None, config: State, proposed: State
    ) -> tuple[State, list[str]]:
        """The planned state and the attributes that force replacement, as the plan modifiers decide."""
        planned = dict(proposed)
        for name, default in DEFAULTS.items():
            if config[name] is None:
                planned[name] = default

        # NumberNumericAttributePlanModifier keeps the deprecated `number` equal to `numeric`.
        number, numeric = config["number"], config["numeric"]
        if known(number) and known(numeric) and number != numeric:
            diags.add_error(
                "Number and numeric are both configured with different values",
                "Number is deprecated, use numeric instead",
            )
        if numeric is not None:
            planned["number"] = planned["numeric"] = numeric
        else:
            planned["number"] = planned["numeric"] = True if number is None else number

        for name in GENERATED:
            planned[name] = prior[name] if prior is not None else Unknown
        if prior is None:
            return planned, []

        replace = [name for name in REPLACE_ON_CHANGE if planned[name] != prior[name]]
        if keepers_require_replace(config["keepers"], prior["keepers"]):
            replace.append("keepers")
        if override_special_requires_replace(config["override_special"], prior["override_special"]):
            replace.append("override_special")
        return planned, replace

    def create(self, ctx: CreateContext, planned: State) -> State | None:
        try:
            result = generate_password(planned)
        except ValueError as exc:
            ctx.diagnostics.add_error("Random Read Error", str(exc))
            return None
        return {**planned, "result": result, "bcrypt_hash": bcrypt_hash(result), "id": "none"}

    def read(self, ctx: ReadContext, current: State) -> State:
        return current

    def update(self, ctx: UpdateContext, current: State, planned: State) -> State:
        return planned

    def delete(self, ctx: DeleteContext, current: State) -> None:
        return None


class PlanningServicer(ProviderServicer):  # type: ignore[misc]  # tf ships no type hints
    """Plans every change through `plan_change`, which sees the configuration and the prior state.

    The framework's own PlanResourceChange plans a create without asking the resource, never sees
    the configuration, and forces replacement on any change of a `requires_replace` attribute;
    the real provider's defaults and plan modifiers need all three.
    """

    def PlanResourceChange(
        self, request: pb.PlanResourceChange.Request, context: Any
    ) -> pb.PlanResourceChange.Response:
        diags = Diagnostics()
        attrs = self._get_res_attrs(request.type_name)
        blocks = self._get_res_blocks(request.type_name)
        _, prior = _decode_state(diags, attrs, blocks, request.prior_state)
        proposed_encoded, proposed = _decode_state(diags, attrs, blocks, request.proposed_new_state)
        _, config = _decode_state(diags, attrs, blocks, request.config)
        if diags.has_errors() or proposed is None:  # a destroy plans the null state
            return pb.PlanResourceChange.Response(diagnostics=diags.to_pb())
        resource = self.app.new_resource(self._get_res_cls(request.type_name))
        planned, replace = resource.plan_change(diags, prior, config, proposed)
        return pb.PlanResourceChange.Response(
            planned_state=_encode_state(attrs, blocks, planned, proposed_encoded),
            requires_replace=[_to_attribute_path([name]) for name in replace],
            diagnostics=diags.to_pb(),
        )


class RandomProvider:
    def get_model_prefix(self) -> str:
        return "random_"

    def full_name(self) -> str:
        return "registry.terraform.io/hashicorp/random"

    def get_provider_schema(self, diags: Diagnostics) -> Schema:
        return Schema()

    def validate_config(self, diags: Diagnostics, config: State) -> None:
        pass

    def configure_provider(self, diags: Diagnostics, config: State) -> None:
        pass

    def get_data_sources(self) -> list[type]:
        return []

    def get_resources(self) -> list[type]:
        return [PasswordResource]

    def get_functions(self) -> list[type]:
        return []

    def new_resource(self, klass: type[PasswordResource]) -> PasswordResource:
        return klass(self)


if __name__ == "__main__":
    # run_provider builds its servicer from tf.provider.ProviderServicer when called, with no parameter for it.
    tf.provider.ProviderServicer = PlanningServicer
    run_provider(RandomProvider())
