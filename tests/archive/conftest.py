from datetime import date

import pytest

from archive.auth.restricted import break_glass
from archive.models import AccessGrant
from archive.records.patients import register_patient
from tests.conftest import SYSTEM
from tests.storefixtures import moto_endpoint, store  # noqa: F401  (fixtures)

# --- restricted charts (break the glass) --------------------------------------------------------

VIP = "MRN-7007"
OTHER_VIP = "MRN-8008"
REASON = "ED admission, patient unconscious"


@pytest.fixture
def restricted(ext):
    """Two restricted patients; VIP is the one most tests open."""
    with ext.db.transaction() as session:
        for mrn, name in ((VIP, "VIP, VERA"), (OTHER_VIP, "STAR, SAM")):
            register_patient(
                session, SYSTEM, mrn=mrn, name=name, dob=date(1960, 5, 6), restricted=True
            )
    return VIP


def grant(ext, principal, mrn=VIP, *, at=None, minutes=60, reason=REASON) -> AccessGrant:
    with ext.db.transaction() as session:
        return break_glass(session, principal, mrn, reason, minutes=minutes, now=at)
