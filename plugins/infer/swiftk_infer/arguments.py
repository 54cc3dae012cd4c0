"""Arguments swift-plugin-infer adds to ``swiftk infer`` and ``swiftk deploy``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional

from swiftk.api import arg


@dataclass
class CkptDirArguments:
    """ms-swift 2.x's ``--ckpt_dir``, still used in scripts: a training checkpoint folder."""

    SECTION = "Checkpoint"
    SECTION_ZH = "检查点"

    ckpt_dir: Optional[str] = arg(
        None,
        "A checkpoint folder: an adapter (read as --adapters) or full weights (read as --model); its "
        "args.json fills the basic arguments (--load_args).",
    )


@dataclass
class DeployLimitArguments:
    """What ``swiftk deploy`` adds to ms-swift's deployment arguments: a body limit and CORS."""

    SECTION = "Deployment limits"
    SECTION_ZH = "部署限制"

    max_request_bytes: int = arg(
        8 * 2**20, "Largest request body accepted, in bytes; a larger one is refused (413) before it is read."
    )
    cors_allow_origins: List[str] = arg(
        list, "Origins a browser may call the API from (CORS), e.g. http://localhost:3000, or *; none by default."
    )
    allowed_local_media_path: Optional[str] = arg(
        None,
        "A folder whose files requests may name as media (image_url 'file://...' or a path), as vLLM's "
        "--allowed-local-media-path; none by default: only data URLs (and remote URLs online).",
    )


@dataclass
class WriteBatchArguments:
    """Later ms-swift's ``--write_batch_size`` (not on the v3.2 page)."""

    SECTION = "Inference arguments"

    write_batch_size: int = arg(
        1000,
        "Rows answered and appended to --result_path at a time (later ms-swift); -1: all at once. The file is "
        "written as <result_path>.partial and renamed when every row is answered.",
    )
