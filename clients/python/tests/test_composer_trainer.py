"""ArtifactBusLogger in a Trainer (the stand-in of tests/composer_standin.py, as strict as
Composer): every event, every Logger call, a checkpoint per epoch, close and post_close; then a new
Trainer autoresumes through `download_file`. The logger is built as the README builds it, without
a run: Composer's `state.run_name` names it, for uploads and for the download."""

import hashlib
import os
import unittest
import uuid

from artifact_bus import ArtifactBusError, ArtifactClient
from artifact_bus.composer import ArtifactBusLogger
from tests import composer_standin as composer
from tests.support import TRANSPORTS, record, scratch_dir


def readme_logger(transport, env=None):
    """ArtifactBusLogger(project="pyclient") as in the README: no run anywhere in its configuration."""
    env = dict(os.environ if env is None else env)
    env.pop("ARTIFACT_BUS_RUN", None)
    if transport == "nats":
        env.pop("ARTIFACT_BUS_URL", None)
    return ArtifactBusLogger(client=ArtifactClient.from_env(project="pyclient", env=env))


class ComposerTrainer(unittest.TestCase):
    def test_a_trainer_runs_every_hook_uploads_its_checkpoints_and_resumes_from_them(self):
        for transport in TRANSPORTS:
            with self.subTest(transport=transport):
                run = "trainer-%s-%s" % (transport, uuid.uuid4().hex[:6])
                trainer = composer.Trainer([readme_logger(transport)], run_name=run, folder=scratch_dir(self))
                uploaded = trainer.fit(epochs=2, batches=3)
                trainer.close()  # close waits until every checkpoint landed, or raises FlushError
                self.assertEqual(set(composer.EVERY_EVENT) - {"close"} - set(trainer.events), set())
                self.assertEqual(len(uploaded), 2)

                record("composer_trainer_%s" % transport,
                       {"pyclient/%s/%s" % (run, name): hashlib.sha256(data).hexdigest() for name, data in uploaded.items()})
                if transport == "nats":
                    # NATS carries no bytes back: autoresume is told so, not left to fail silently.
                    with self.assertRaisesRegex(NotImplementedError, "ARTIFACT_BUS_URL"):
                        composer.Trainer([readme_logger(transport)], run_name=run, folder=scratch_dir(self),
                                         autoresume=True)
                    continue
                resumed = composer.Trainer([readme_logger(transport)], run_name=run, folder=scratch_dir(self),
                                           autoresume=True)
                last = "checkpoints/ep1-ba6-rank0.pt"
                self.assertEqual(resumed.resumed, (last, uploaded[last]))
                resumed.close()


class NoRunAnywhere(unittest.TestCase):
    def test_download_before_composer_named_the_run_says_what_to_pass(self):
        # Configured, but nowhere reachable.
        nowhere = {"ARTIFACT_BUS_URL": "http://127.0.0.1:9", "ARTIFACT_BUS_SPOOL_DIR": scratch_dir(self)}
        logger = readme_logger("http", env=nowhere)
        with self.assertRaisesRegex(ArtifactBusError, r"run.*(run=|ARTIFACT_BUS_RUN)"):
            logger.download_file("checkpoints/latest-rank0.pt.symlink", os.path.join(scratch_dir(self), "x"))
        logger.post_close()


if __name__ == "__main__":
    unittest.main()
