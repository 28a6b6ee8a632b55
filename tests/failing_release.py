"""A release made to fail the default policy: code under the GPL carrying another
organisation's (Meta's) copyright notice, in a release whose card and LICENSE say Apache-2.0
and whose NOTICE names only the publisher. Issue 13's bypasses must never make it pass."""

from __future__ import annotations

from pathlib import Path

from scanner.demo_release import apache_license_text

GPL_CODE = """\
# Copyright (c) Meta Platforms, Inc. and affiliates.
#
# This program is free software: you can redistribute it and/or modify
# it under the terms of the GNU General Public License as published by
# the Free Software Foundation, either version 3 of the License, or
# (at your option) any later version.
#
# This program is distributed in the hope that it will be useful,
# but WITHOUT ANY WARRANTY; without even the implied warranty of
# MERCHANTABILITY or FITNESS FOR A PARTICULAR PURPOSE.  See the
# GNU General Public License for more details.
import math


def rotary(x, theta=10000.0):
    return [math.cos(v / theta) for v in x]
"""

CODE_RULES = {"licenses.fail_on_unreflected"}
"""Rules the GPL code breaks (each must be among the violations). Meta's notice in it is a
foreign-notice finding but owes no NOTICE-file entry: the file's own license (GPL) decides
its duties, not Meta's usual license, and whether the upstream shipped a NOTICE file is not
known (the Apache notice-file obligation is `unknown`, never a violation on a guess)."""


def make_failing_release(root: Path, code_path: str = "modeling_acme.py") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "README.md").write_text("---\nlicense: apache-2.0\n---\n# acme-model\n")
    (root / "LICENSE").write_text(apache_license_text() or "Apache License 2.0\n")
    (root / "NOTICE").write_text("acme-model\nCopyright 2025 Acme Labs\n")
    (root / code_path).parent.mkdir(parents=True, exist_ok=True)
    (root / code_path).write_text(GPL_CODE)
    return root
