"""The embedded stack: Tansu, dev keys and every service process on 127.0.0.1."""

from alamal_stack.keys import TokenKeys, ensure_token_keys
from alamal_stack.processes import StackError
from alamal_stack.runner import EmbeddedStack, RestartPolicy
from alamal_stack.services import SERVICES, ServiceSpec, select_services, service_env
from alamal_stack.tansu import TansuBroker, create_topics

__all__ = [
    "SERVICES",
    "EmbeddedStack",
    "RestartPolicy",
    "ServiceSpec",
    "StackError",
    "TansuBroker",
    "TokenKeys",
    "create_topics",
    "ensure_token_keys",
    "select_services",
    "service_env",
]
