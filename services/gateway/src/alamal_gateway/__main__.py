"""Run the gateway service: `python -m alamal_gateway` (configured by GATEWAY_* variables)."""

from alamal_gateway.app import create_app
from alamal_gateway.settings import GatewaySettings
from alamal_runtime.main import serve

if __name__ == "__main__":
    serve(GatewaySettings, create_app)
