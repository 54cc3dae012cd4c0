"""The page's "部署参数"."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from swiftk.arguments.fields import arg


@dataclass
class DeployArguments:
    """Deployment arguments (the seed page's "部署参数")."""

    SECTION = "Deployment arguments"
    SECTION_ZH = "部署参数"

    host: str = arg("0.0.0.0", "Server host.")
    port: int = arg(8000, "Server port.")
    api_key: Optional[str] = arg(None, "API key clients must send.")
    owned_by: str = arg("swift", "owned_by field of the model list.")
    served_model_name: Optional[str] = arg(
        None, "Model name served; None uses the last component of the model path.", hot=True
    )
    verbose: bool = arg(True, "Log request details.")
    log_interval: int = arg(20, "Seconds between tokens/s statistics; -1 disables.")
    max_logprobs: int = arg(20, "Max logprobs returned to a client.")
