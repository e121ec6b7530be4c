"""A processor for the large-payload tests, loaded in function processes through JOBQUEUE_PROCESSORS: it answers
with the digest and size of the data it received, so a test can tell it got the exact bytes."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from jobqueue import Job, processor


@processor("data-processing", "payload-check")
def payload_check(job: Job) -> dict[str, Any]:
    body = json.dumps(job.data, separators=(",", ":")).encode()
    return {"sha256": hashlib.sha256(body).hexdigest(), "bytes": len(body)}
