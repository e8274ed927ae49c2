"""The Azure provider plugin: containers on Azure virtual machines (NC, ND and NV sizes).

Importing this package imports no Azure SDK; the provider imports azure-identity,
azure-mgmt-compute and azure-mgmt-network when it first talks to Azure.

Configuration (environment variables win over ``[providers.azure]`` in config.toml):

==================================  ==========================  ===================================
environment variable                config.toml key             meaning
==================================  ==========================  ===================================
``AZURE_SUBSCRIPTION_ID``           ``subscription_id``         the subscription (required)
``AZURE_CLIENT_ID``,                (environment only)          a service principal, read by
``AZURE_TENANT_ID``,                                            ``DefaultAzureCredential``, which
``AZURE_CLIENT_SECRET``                                         also accepts ``az login``, managed
                                                                and workload identities
``STRATO_AZURE_RESOURCE_GROUP``     ``resource_group``          where VMs go (default ``strato``;
                                                                it must exist)
``STRATO_AZURE_SUBNET_ID``          ``subnet_id``               an existing subnet for the NICs;
                                                                unset: a ``strato-<region>`` VNet
                                                                (10.200.0.0/16) is created once
``STRATO_AZURE_IMAGE``              ``image``                   ``publisher:offer:sku:version`` or
                                                                an image resource id (default
                                                                ``microsoft-dsvm:ubuntu-hpc:2204:
                                                                latest``: NVIDIA driver, Docker)
``STRATO_AZURE_ZONES``              ``zones``                   zones to try in order, e.g.
                                                                ``1,2,3`` (default: regional VM)
``STRATO_AZURE_PUBLIC_IP``          ``public_ip``               give each VM a public IP (default
                                                                false: egress through the subnet)
``STRATO_AZURE_SSH_PUBLIC_KEY``     ``ssh_public_key``          an OpenSSH public key or a file
                                                                with one (default: a throwaway
                                                                key, so nobody can log in)
``STRATO_AZURE_ENDPOINT``           ``endpoint``                ARM endpoint override, for an
                                                                emulator: a static token stands in
                                                                for the service principal
(none)                              ``os_disk_gb``,             OS disk size (128), LRO waits
                                    ``create_timeout_s``,       (900 s, 600 s), poll interval (5 s),
                                    ``delete_timeout_s``,       HTTP retries (3) and their backoff
                                    ``poll_interval_s``,        factor (0.8 s)
                                    ``retries``,
                                    ``retry_backoff_s``
==================================  ==========================  ===================================
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from strato.plugins.hookspecs import hookimpl

__all__ = ["strato_register_providers"]


@hookimpl
def strato_register_providers(register: Callable[[Any], None]) -> None:
    """Register the Azure provider."""
    from strato.plugins.azure.provider import AzureProvider

    register(AzureProvider())
