"""The network a VM needs: a subnet (configured, or a ``strato-<region>`` VNet made once), a NIC
per VM and, when configured, a public IP per VM.

The NIC and the public IP are created with ``deleteOption: Delete`` so that Azure removes them
with the VM, whether Strato deletes it or a spot eviction does; :func:`delete_nic` and
:func:`delete_public_ip` are the explicit clean-up behind that (idempotent: ARM answers 204 for
what is already gone).
"""

from __future__ import annotations

from typing import Any

from strato.plugins.azure.clients import AzureClients, wait_for
from strato.plugins.azure.config import AzureSettings

VNET_PREFIX = "10.200.0.0/16"
SUBNET_PREFIX = "10.200.0.0/20"
SUBNET_NAME = "default"


def vnet_name(region: str) -> str:
    """The VNet Strato creates in a region when no subnet is configured."""
    return f"strato-{region}"


def nic_name(vm_name: str) -> str:
    return f"{vm_name}-nic"


def public_ip_name(vm_name: str) -> str:
    return f"{vm_name}-ip"


def ensure_subnet(clients: AzureClients, settings: AzureSettings, region: str) -> str:
    """The id of the subnet for NICs in ``region``: the configured one, or Strato's own
    (created with explicit default outbound access, so the agent can reach the control plane
    without a public IP)."""
    if settings.subnet_id:
        return str(settings.subnet_id)
    from azure.core.exceptions import ResourceNotFoundError
    from azure.mgmt.network import models

    rg, vnet = settings.resource_group, vnet_name(region)
    try:
        return str(clients.network.subnets.get(rg, vnet, SUBNET_NAME, **clients.call).id)
    except ResourceNotFoundError:
        pass
    subnet = models.Subnet(
        name=SUBNET_NAME,
        properties=models.SubnetPropertiesFormat(
            address_prefix=SUBNET_PREFIX, default_outbound_access=True
        ),
    )
    body = models.VirtualNetwork(
        location=region,
        tags={"strato-managed": "true"},
        properties=models.VirtualNetworkPropertiesFormat(
            address_space=models.AddressSpace(address_prefixes=[VNET_PREFIX]), subnets=[subnet]
        ),
    )
    poller = clients.network.virtual_networks.begin_create_or_update(rg, vnet, body, **clients.call)
    created = wait_for(poller, settings.create_timeout_s, f"creating virtual network {vnet}")
    for subnet in created.subnets or []:
        if subnet.name == SUBNET_NAME:
            return str(subnet.id)
    raise RuntimeError(f"virtual network {vnet} was created without subnet {SUBNET_NAME!r}")


def create_public_ip(
    clients: AzureClients, settings: AzureSettings, vm_name: str, region: str, tags: dict[str, str]
) -> str:
    """A static Standard public IP for one VM; returns its id."""
    from azure.mgmt.network import models

    body = models.PublicIPAddress(
        location=region,
        tags=tags,
        sku=models.PublicIPAddressSku(name="Standard"),
        properties=models.PublicIPAddressPropertiesFormat(public_ip_allocation_method="Static"),
    )
    poller = clients.network.public_ip_addresses.begin_create_or_update(
        settings.resource_group, public_ip_name(vm_name), body, **clients.call
    )
    return str(wait_for(poller, settings.create_timeout_s, "creating a public IP").id)


def create_nic(
    clients: AzureClients,
    settings: AzureSettings,
    vm_name: str,
    region: str,
    subnet_id: str,
    public_ip_id: str | None,
    tags: dict[str, str],
) -> str:
    """The VM's network interface; returns its id."""
    from azure.mgmt.network import models

    public_ip = None
    if public_ip_id:
        public_ip = models.PublicIPAddress(
            id=public_ip_id,
            properties=models.PublicIPAddressPropertiesFormat(delete_option="Delete"),
        )
    config = models.NetworkInterfaceIPConfiguration(
        name="primary",
        properties=models.NetworkInterfaceIPConfigurationPropertiesFormat(
            subnet=models.Subnet(id=subnet_id),
            private_ip_allocation_method="Dynamic",
            public_ip_address=public_ip,
        ),
    )
    body = models.NetworkInterface(
        location=region,
        tags=tags,
        properties=models.NetworkInterfacePropertiesFormat(ip_configurations=[config]),
    )
    poller = clients.network.network_interfaces.begin_create_or_update(
        settings.resource_group, nic_name(vm_name), body, **clients.call
    )
    return str(wait_for(poller, settings.create_timeout_s, "creating a network interface").id)


def delete_nic(clients: AzureClients, settings: AzureSettings, vm_name: str) -> None:
    """Delete the VM's NIC (nothing happens when it is already gone)."""
    _delete(
        clients.network.network_interfaces.begin_delete,
        clients,
        settings,
        nic_name(vm_name),
    )


def delete_public_ip(clients: AzureClients, settings: AzureSettings, vm_name: str) -> None:
    """Delete the VM's public IP (nothing happens when it is already gone)."""
    _delete(
        clients.network.public_ip_addresses.begin_delete,
        clients,
        settings,
        public_ip_name(vm_name),
    )


def _delete(begin: Any, clients: AzureClients, settings: AzureSettings, name: str) -> None:
    from azure.core.exceptions import ResourceNotFoundError

    try:
        poller = begin(settings.resource_group, name, **clients.call)
    except ResourceNotFoundError:
        return
    wait_for(poller, settings.delete_timeout_s, f"deleting {name}")
