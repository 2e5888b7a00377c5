"""Which names a destination's setPointer template reserves (artifact_bus/_rules.py), the same
rule as shared/src/contract/checkpoint-set.ts. No servers needed."""

import unittest

from artifact_bus._rules import pointer_pattern as _pointer_pattern


class PointerNames(unittest.TestCase):
    def reserved(self, name, template="{dir}/latest"):
        return _pointer_pattern(template).fullmatch(name) is not None

    def test_the_default_reserves_latest_at_any_depth_only(self):
        for name in ("latest", "ck/latest", "a/b/latest"):
            self.assertTrue(self.reserved(name), name)
        for name in ("latest.pt", "ck/latest/x.pt", "ck/mylatest"):
            self.assertFalse(self.reserved(name), name)

    def test_composers_per_rank_symlinks_are_reserved_for_every_rank(self):
        composer = "{dir}/latest-rank{rank}.pt.symlink"
        self.assertTrue(self.reserved("ck/latest-rank3.pt.symlink", composer))
        self.assertTrue(self.reserved("latest-rank0.pt.symlink", composer))
        self.assertFalse(self.reserved("ck/latest-rankX.pt.symlink", composer))


if __name__ == "__main__":
    unittest.main()
