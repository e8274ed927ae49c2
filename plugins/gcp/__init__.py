"""The GCP provider plugin: containers on Compute Engine VMs, through google-cloud-compute.

Importing this package imports neither the SDK nor the provider module; both load when the
plugin manager asks for providers (and the SDK only on the first API call).

Configuration
-------------
Environment variables:

``GOOGLE_APPLICATION_CREDENTIALS``
    A service-account key file. Without it, Application Default Credentials are used as
    ``google.auth.default()`` finds them (``gcloud auth application-default login``, the
    metadata server on GCP).
``STRATO_GCP_PROJECT`` (or ``GOOGLE_CLOUD_PROJECT``, ``CLOUDSDK_CORE_PROJECT``)
    The project to launch in; defaults to the credentials' own project.
``STRATO_GCP_ENDPOINT``
    Another Compute API endpoint (``http://127.0.0.1:PORT`` for an emulator). With it, no
    credentials are sent (``AnonymousCredentials``) and the project defaults to
    ``strato-emulator``.

``[providers.gcp]`` in config.toml (the environment wins where both are set)::

    project = "my-project"
    endpoint = "http://127.0.0.1:8085"        # as STRATO_GCP_ENDPOINT
    zones = { us-central1 = ["us-central1-b", "us-central1-c"] }   # zones to try, in order
    image = "projects/my-project/global/images/family/my-gpu-image"   # default: a Deep Learning VM
    disk_size_gb = 100
    network = "global/networks/default"
    subnetwork = "regions/us-central1/subnetworks/default"
    external_ip = true                         # the agent must reach the control plane
    service_account = "runner@my-project.iam.gserviceaccount.com"
    default_region = "us-central1"             # for provision() without an offer
    default_machine_type = "n1-standard-4"
    operation_timeout_s = 600                  # bound on waiting for an insert
    terminate_wait_s = 60                      # bound on waiting for a delete
    request_timeout_s = 60                     # bound on one HTTP request
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from strato.plugins.hookspecs import hookimpl

__all__ = ["strato_register_providers"]


@hookimpl  # type: ignore[untyped-decorator]
def strato_register_providers(register: Callable[[Any], None]) -> None:
    from strato.plugins.gcp.provider import GCPProvider

    register(GCPProvider())
