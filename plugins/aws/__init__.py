"""The AWS provider plugin: each container on its own EC2 instance.

Registered through the ``strato`` entry point ``aws = "strato.plugins.aws"``. Importing this
package imports no AWS SDK: boto3 loads when the provider first calls AWS.

Credentials come from boto3's usual chain: ``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY``
(/ ``AWS_SESSION_TOKEN``), ``AWS_PROFILE`` with ``~/.aws/credentials`` and ``~/.aws/config``,
SSO, or an instance role. Settings, each from its environment variable or else
``[providers.aws]`` in ``config.toml`` (see :class:`~strato.plugins.aws.config.AwsSettings`):

==============================  ===================  =============================================
environment variable            config.toml key      meaning
==============================  ===================  =============================================
``AWS_ENDPOINT_URL``            (boto3's own)        every AWS API at another URL (an emulator)
``STRATO_AWS_ENDPOINT_URL``     ``endpoint_url``     EC2, SSM and STS at another URL
``AWS_PROFILE``                 ``profile``          the credentials/config profile to use
``STRATO_AWS_REGION``           ``default_region``   region of the credential check (us-east-1)
``STRATO_AWS_AMI``              ``ami``              image id for every region (``ami-...``), or
                                                     ``us-east-1=ami-1,us-west-2=ami-2``; TOML: a
                                                     string or a table ``{us-east-1 = "ami-1"}``.
                                                     Default: the AWS Deep Learning Base AMI
``STRATO_AWS_AMI_PARAMETER``    ``ami_parameter``    SSM parameter naming the default image
                                                     (``{arch}``: ``x86_64``/``arm64``)
``STRATO_AWS_SUBNET``           ``subnet``           subnet to launch into, per region as for ami
                                                     (default: the default VPC's)
``STRATO_AWS_ZONES``            ``zones``            zones to try in order, ``us-east-1a,...``
                                                     (default: EC2 chooses)
``STRATO_AWS_SECURITY_GROUPS``  ``security_groups``  ``sg-1,sg-2`` for every region, or
                                                     ``us-east-1=sg-1,sg-2;us-west-2=sg-3``
``STRATO_AWS_KEY_NAME``         ``key_name``         EC2 key pair to install (debugging)
``STRATO_AWS_INSTANCE_PROFILE`` ``instance_profile`` IAM instance profile name or ARN
==============================  ===================  =============================================

The machines need outbound access to the control plane's URL; nothing inbound.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from strato.plugins.hookspecs import hookimpl

if TYPE_CHECKING:
    from strato.plugins.aws.provider import AwsProvider

__all__ = ["AwsProvider", "strato_register_providers"]


@hookimpl
def strato_register_providers(register: Callable[[Any], None]) -> None:
    from strato.plugins.aws.provider import AwsProvider

    register(AwsProvider())


def __getattr__(name: str) -> Any:
    if name == "AwsProvider":
        from strato.plugins.aws.provider import AwsProvider

        return AwsProvider
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
