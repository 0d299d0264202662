"""pycontainerd's networking core: bridge/host/none and user-defined networks, IPAM, sandboxes
(network namespaces), iptables isolation and NAT, published ports and the embedded DNS.

Plain Python, testable without gRPC; ``service.py`` exposes it as
``pycontainerd.services.networks.v1.Networks``.
"""
from .errors import Conflict, Forbidden, InvalidArgument, NetworkError, NotFound, Unavailable
from .manager import ManagerConfig, NetworkManager
from .model import DNSConfig, Endpoint, IPAMConfig, Network, PortBinding, Sandbox
from .ports import PortMapping, PortSpecError, parse_port_spec

__all__ = ["Conflict", "Forbidden", "InvalidArgument", "NetworkError", "NotFound", "Unavailable",
           "ManagerConfig", "NetworkManager", "DNSConfig", "Endpoint", "IPAMConfig", "Network",
           "PortBinding", "Sandbox", "PortMapping", "PortSpecError", "parse_port_spec"]
