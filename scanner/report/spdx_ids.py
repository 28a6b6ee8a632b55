"""License ids as the standard formats want them: SPDX case, or a LicenseRef."""

from __future__ import annotations

import re

from ..assess.licenses import license_ids

# Lower-case id -> SPDX list id, for the licenses model releases actually carry. Anything
# else (model licenses such as llama3 or qwen are not on the SPDX list) becomes a LicenseRef.
_SPDX = {i.lower(): i for i in (
    "Apache-2.0", "MIT", "BSD-2-Clause", "BSD-3-Clause", "ISC", "Zlib", "Unlicense", "CC0-1.0",
    "CC-BY-4.0", "CC-BY-SA-4.0", "CC-BY-NC-4.0", "CC-BY-NC-SA-4.0", "CC-BY-NC-ND-4.0",
    "CC-BY-NC-3.0", "CC-BY-NC-2.0", "CC-BY-ND-4.0", "GPL-2.0-only", "GPL-2.0-or-later",
    "GPL-3.0-only", "GPL-3.0-or-later", "LGPL-2.1-only", "LGPL-2.1-or-later", "LGPL-3.0-only",
    "LGPL-3.0-or-later", "AGPL-3.0-only", "AGPL-3.0-or-later", "MPL-2.0", "EPL-2.0",
    "Python-2.0", "PSF-2.0", "OpenRAIL", "Artistic-2.0", "BSL-1.0", "WTFPL", "OFL-1.1",
    "CDLA-Permissive-2.0", "CDLA-Sharing-1.0", "ODbL-1.0", "Llama-3.1", "Llama-3.2")}
_ALIASES = {"gpl-2.0": "GPL-2.0-only", "gpl-3.0": "GPL-3.0-only", "lgpl-2.1": "LGPL-2.1-only",
            "lgpl-3.0": "LGPL-3.0-only", "agpl-3.0": "AGPL-3.0-only", "bsd-new": "BSD-3-Clause",
            "bsd-simplified": "BSD-2-Clause", "openrail": "OpenRAIL"}


def spdx_id(license_id: str) -> str | None:
    """The SPDX list id for a license id, if it is on the list."""
    low = license_id.lower()
    return _SPDX.get(low) or _ALIASES.get(low)


def license_ref(license_id: str) -> str:
    """A valid LicenseRef for an id that is not on the SPDX list."""
    if license_id.lower().startswith("licenseref-"):
        license_id = license_id[len("licenseref-"):]
    return "LicenseRef-" + (re.sub(r"[^A-Za-z0-9.\-]", "-", license_id) or "unknown")


def spdx_expression(expression: str) -> str:
    """An expression with every id in SPDX form (LicenseRef for the others), joined by AND
    when it cannot be kept as written."""
    ids = license_ids(expression)
    if not ids:
        return "NOASSERTION"
    parts = [spdx_id(i) or license_ref(i) for i in ids]
    low = expression.lower()
    op = " OR " if " or " in low and " and " not in low else " AND "
    return op.join(parts)
