"""The path part of a destination's name rules (artifact_bus/_path_rule.py): the path a name would
take there, rendered as the adapter renders it, refused past the limit in the same words as the
TypeScript publisher (shared/test/name-path-rule.test.ts checks the same cases). No servers needed."""

import types
import unittest

from artifact_bus._path_rule import broken_path_rule


def name_of(size):
    """A name of `size` bytes in segments of 200 (a file name's limit is 255)."""
    segments = ("n" * 199 + "/") * (size // 200)
    return segments + "x" * (size - len(segments))


def item(name, rank=None, event_id="0123456789abcdef0123456789abcdef0123", run="r"):
    return types.SimpleNamespace(id=event_id, project="p", run=run, level="fit", name=name, rank=rank)


class S3Keys(unittest.TestCase):
    rules = {"pathTemplate": "{project}/{level}/{run}-r{rank}/{name}", "prefix": "team-a/", "maxPathBytes": 1024}

    def test_over_by_one_byte_is_refused_naming_the_lengths_and_the_limit(self):
        self.assertIsNone(broken_path_rule(item(name_of(1005), rank=12), self.rules))
        self.assertEqual(
            broken_path_rule(item(name_of(1006), rank=12), self.rules),
            'object key is 1,025 bytes (name 1,006 + prefix "team-a/" 7 + 12 from template '
            '"{project}/{level}/{run}-r{rank}/{name}"); S3 allows at most 1,024 bytes')
        self.assertIsNone(broken_path_rule(item(name_of(1006)), self.rules))  # rank 0: one byte less

    def test_an_older_record_checks_no_path(self):
        self.assertIsNone(broken_path_rule(item(name_of(1024)), {"allowDotSegments": False}))


class FilePaths(unittest.TestCase):
    root = ("/" + "d" * 200) * 15 + "/" + "e" * 60  # 3,076 bytes

    def test_the_temporary_name_counts(self):
        rules = {"pathTemplate": "{project}/{run}/{name}", "root": self.root, "maxPathBytes": 4095}
        self.assertIsNone(broken_path_rule(item(name_of(968)), rules))
        self.assertEqual(
            broken_path_rule(item(name_of(969)), rules),
            'path is 4,050 bytes (name 969 + root "/' + "d" * 39 + '\u2026" 3,076 + 5 from template '
            '"{project}/{run}/{name}"), 4,096 with the temporary name written beside it; paths are at most 4,095 bytes')

    def test_a_segment_the_template_makes_too_long(self):
        rules = {"pathTemplate": "{project}/{run}-{name}", "root": "/srv", "maxPathBytes": 4095}
        self.assertEqual(
            broken_path_rule(item("s" * 250 + "/a.pt", run="run12"), rules),
            'segment "run12-' + "s" * 34 + '\u2026" is 256 bytes (made by template "{project}/{run}-{name}"); '
            "file names there are at most 255 bytes")


if __name__ == "__main__":
    unittest.main()
