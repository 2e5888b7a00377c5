"""artifact-bus for Python trainers: log a file and keep training; it reaches every destination
(S3, SFTP, Weights & Biases) in the background. Standard library only.

    from artifact_bus import ArtifactClient
    client = ArtifactClient.from_env(project="vision", run="run-7")
    client.log_file("/tmp/ckpt.pt", "checkpoints/ep1.pt", level="epoch", metadata={"epoch": "1"})
    client.close(timeout=600)  # waits until every artifact landed everywhere
"""

from ._events import InvalidArtifact, name_key
from .client import ArtifactClient
from .errors import ArtifactBusError, FlushError, RetryableError

__all__ = ["ArtifactClient", "ArtifactBusError", "FlushError", "InvalidArtifact", "RetryableError", "name_key"]
__version__ = "0.1.0"
