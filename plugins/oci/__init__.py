"""The OCI (Oracle Cloud Infrastructure) provider: containers on OCI compute instances.

Registered under the entry point ``oci = "strato.plugins.oci"``. Importing this package does
not import the ``oci`` SDK; the provider imports it when it first talks to OCI.

Credentials are the OCI SDK's usual config file (user, fingerprint, key_file, tenancy,
region; see https://docs.oracle.com/iaas/Content/API/Concepts/sdkconfig.htm).

Configuration (an environment variable wins over ``[providers.oci]`` in config.toml):

===================================  ======================  ==================================
environment variable                 config.toml key         meaning (default)
===================================  ======================  ==================================
``OCI_CONFIG_FILE``                  ``config_file``         the OCI config file
                                                             (``~/.oci/config``)
``OCI_CONFIG_PROFILE``               ``profile``             its profile (``DEFAULT``)
``STRATO_OCI_COMPARTMENT``           ``compartment_id``      compartment of new instances
                                                             (the config's tenancy)
``STRATO_OCI_SUBNET``                ``subnet_id`` /         subnet OCID, or
                                     ``subnet_ids``          ``region=ocid,region=ocid``
                                                             (subnets are regional); default:
                                                             the first available regional
                                                             subnet of the compartment, public
                                                             ones first
``STRATO_OCI_IMAGE``                 ``image_id`` /          image OCID, or
                                     ``image_ids``           ``region=ocid,...``; default: the
                                                             newest Oracle Linux image for the
                                                             shape (its GPU build for GPU
                                                             shapes)
``STRATO_OCI_AVAILABILITY_DOMAIN``   ``availability_domain`` launch only there (default: each
                                                             domain of the region in turn while
                                                             OCI is out of capacity)
``STRATO_OCI_ENDPOINT``              ``endpoint``            service endpoint override for an
                                                             emulator; ``{region}`` in it
                                                             becomes the region
``STRATO_OCI_LAUNCH_WAIT_S``         ``launch_wait_s``       seconds ``provision`` waits for an
                                                             instance to leave PROVISIONING
                                                             (30)
(none)                               ``boot_volume_gb``      boot volume size (100)
===================================  ======================  ==================================

The start-up script runs Docker (with the NVIDIA runtime for GPUs): on OCI, name an image
that has both with ``STRATO_OCI_IMAGE`` (the default platform image has the NVIDIA driver
only).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from strato.plugins.hookspecs import hookimpl

__all__ = ["strato_register_providers"]


@hookimpl
def strato_register_providers(register: Callable[[Any], None]) -> None:
    """Register the OCI provider (its SDK loads only when it is used)."""
    from strato.plugins.oci.provider import OCIProvider

    register(OCIProvider())
