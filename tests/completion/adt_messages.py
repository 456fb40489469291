# ruff: noqa: E501 - message text is kept as on the wire, one segment a line
r"""ADT message text as three kinds of hospital systems send it, segments joined by CR as on
the wire (``message(...)``). What differs between them is what the parser must cope with:

- EPIC: an Epic-like feed. PID-3 repeats (the MRN typed MR after nothing, an SSN typed SS),
  the visit number in PV1-19, local times without an offset, \T\ (&) in a family name.
- CERNER: a Cerner-like feed. The MRN is the second PID-3 identifier, typed "MRN"; the
  visit (FIN) number only in PID-18; times with an offset; \S\ (^) and \F\ (|) in names;
  observation as patient type OBS in PV1-18; segments ended by LF (a file-based relay).
- MEDITECH: HL7 2.7 with the truncation character in MSH-2 (^~\&#), and a legacy system
  whose encoding characters are its own (@#$%: components @, repetitions #, escape $).
"""

from __future__ import annotations

EPIC_A01 = [
    r"MSH|^~\&|EPIC|UMC|CHARTVAULT|HIM|20261102083512||ADT^A01^ADT_A01|EPIC-0001|P|2.5.1",
    r"EVN|A01|20261102083512||ADM|JSMITH^SMITH^JOHN",
    r"PID|1||E1001^^^EPI^MR~123-45-6789^^^SSA^SS||O\T\BRIEN^MARY^ANN^^^^L||19800214|F|||12 MAIN ST^^SPRINGFIELD^IL^62701||(217)555-0101",
    r"PV1|1|I|4W^401^A^UMC^^^^^4 WEST|E|||1234567890^HOUSE^GREGORY^M^^DR^MD^^NPI^L^^^NPI|||MED||||EMD||||IP|4001234567^^^EPIC^VN|||||||||||||||||||||||||202611020830|",
]
EPIC_A03 = [
    r"MSH|^~\&|EPIC|UMC|CHARTVAULT|HIM|20261106141700||ADT^A03^ADT_A03|EPIC-0002|P|2.5.1",
    r"EVN|A03|20261106141700",
    r"PID|1||E1001^^^EPI^MR~123-45-6789^^^SSA^SS||O\T\BRIEN^MARY^ANN^^^^L||19800214|F",
    r"PV1|1|I|4W^401^A^UMC||||1234567890^HOUSE^GREGORY^M^^DR^MD^^NPI|||MED||||||||IP|4001234567^^^EPIC^VN|||||||||||||||||||||||||202611020830|202611061415",
]
# A08: the patient moved to cardiology under another attending.
EPIC_A08 = [
    r"MSH|^~\&|EPIC|UMC|CHARTVAULT|HIM|20261103090000||ADT^A08^ADT_A01|EPIC-0003|P|2.5.1",
    r"EVN|A08|20261103090000",
    r"PID|1||E1001^^^EPI^MR||O\T\BRIEN^MARY^ANN||19800214|F",
    r"PV1|1|I|CCU^12^A^UMC||||1987654321^WILSON^JAMES^^^DR^MD^^NPI|||CARD||||||||IP|4001234567^^^EPIC^VN|||||||||||||||||||||||||202611020830|",
]
EPIC_A11 = [
    r"MSH|^~\&|EPIC|UMC|CHARTVAULT|HIM|20261102100000||ADT^A11^ADT_A09|EPIC-0004|P|2.5.1",
    r"EVN|A11|20261102100000",
    r"PID|1||E1001^^^EPI^MR||O\T\BRIEN^MARY^ANN||19800214|F",
    r"PV1|1|I|4W^401^A^UMC||||1234567890^HOUSE^GREGORY|||MED||||||||IP|4001234567^^^EPIC^VN",
]
EPIC_A13 = [
    r"MSH|^~\&|EPIC|UMC|CHARTVAULT|HIM|20261106160000||ADT^A13^ADT_A01|EPIC-0005|P|2.5.1",
    r"EVN|A13|20261106160000",
    r"PID|1||E1001^^^EPI^MR||O\T\BRIEN^MARY^ANN||19800214|F",
    r"PV1|1|I|4W^401^A^UMC||||1234567890^HOUSE^GREGORY|||MED||||||||IP|4001234567^^^EPIC^VN",
]

CERNER_A04 = [
    r"MSH|^~\&|CERNER|SMH|CHARTVAULT|HIM|20261103221800-0600||ADT^A04|Q4471122T5531|P|2.3||||||8859/1",
    r"EVN|A04|20261103221800-0600",
    r"PID|1|9876543^^^SMH^CMRN|77-CMRN^^^CORP^CMRN~SMH-55012^^^SMH^MRN||NGUYEN\S\TRAN^LINH^^^^^L||19911130|F||||||||||FIN-990011^^^SMH^FIN NBR",
    r"PV1|0001|O|OBS^OB12^01^SMH||||55512^CHASE^ROBERT^^^^MD^^DOCNUM|||OBS||||||||OBS||||||||||||||||||||||||||20261103221500-0600",
]
CERNER_A03 = [
    r"MSH|^~\&|CERNER|SMH|CHARTVAULT|HIM|20261104111000-0600||ADT^A03|Q4471199T5600|P|2.3",
    r"EVN|A03|20261104111000-0600",
    r"PID|1||SMH-55012^^^SMH^MRN||NGUYEN\S\TRAN^LINH||19911130|F||||||||||FIN-990011^^^SMH^FIN NBR",
    r"PV1|0001|O|OBS^OB12^01^SMH||||55512^CHASE^ROBERT|||L\T\D||||||||OBS||||||||||||||||||||||||||20261103221500-0600|20261104110500-0600",
]

MEDITECH_A01 = [
    r"MSH|^~\&#|MEDITECH|MEDH|CHARTVAULT|HIM|20261104031200||ADT^A01^ADT_A01|MT000417|P|2.7",
    r"EVN||20261104031200",
    r"PID|1||MH-000417^^^MEDH^MR||ST. JAMES^PETER||19550709|M",
    r"PV1|1|E|ER^ER05^^MEDH||||E9911^CAMERON^ALLISON^^^DR|||EMR|||||||||MV-77001|||||||||||||||||||||||||20261104031000",
]
LEGACY_A04 = [
    r"MSH|@#$%|SURGSYS|SMC|CHARTVAULT|HIM|20261105070500||ADT@A04|LG-1|P|2.3",
    r"PID|1||SMC-9001@@@SMC@MR#555-11-2222@@@SSA@SS||KIM$T$LEE@SOO@||19700101|F",
    r"PV1|1|O|SDS@OR3@@SMC||||77123@FOREMAN@ERIC|||SURG||||||||DS|SMC-DS-42|||||||||||||||||||||||||20261105070000",
]

# Readable HL7, but an event this increment does not act on (a lab result).
ORU_R01 = [
    r"MSH|^~\&|LAB|UMC|CHARTVAULT|HIM|20261102120000||ORU^R01^ORU_R01|LAB-77|P|2.5.1",
    r"PID|1||E1001^^^EPI^MR||O\T\BRIEN^MARY||19800214|F",
    r"OBR|1||998877|CBC^COMPLETE BLOOD COUNT",
]
# ADT, but a patient update this increment does not handle (A31).
EPIC_A31 = [
    r"MSH|^~\&|EPIC|UMC|CHARTVAULT|HIM|20261102120000||ADT^A31^ADT_A05|EPIC-0031|P|2.5.1",
    r"EVN|A31|20261102120000",
    r"PID|1||E1001^^^EPI^MR||O\T\BRIEN^MARY||19800214|F",
    r"PV1|1|N",
]
# Malformed: no PV1 segment; a class the table does not know; a header without control id.
NO_PV1 = [
    r"MSH|^~\&|EPIC|UMC|CHARTVAULT|HIM|20261102083512||ADT^A01^ADT_A01|EPIC-BAD1|P|2.5.1",
    r"PID|1||E2002^^^EPI^MR||DOE^JOHN||19700101|M",
]
BAD_TIME = [
    r"MSH|^~\&|EPIC|UMC|CHARTVAULT|HIM|20261102083512||ADT^A01^ADT_A01|EPIC-BAD2|P|2.5.1",
    r"PID|1||E2002^^^EPI^MR||DOE^JOHN||19700101|M",
    r"PV1|1|I|4W||||||||||||||||V-BAD2|||||||||||||||||||||||||yesterday",
]
NO_CONTROL_ID = [
    r"MSH|^~\&|EPIC|UMC|CHARTVAULT|HIM|20261102083512||ADT^A01^ADT_A01||P|2.5.1",
    r"PID|1||E2002^^^EPI^MR||DOE^JOHN||19700101|M",
]


def message(segments: list[str], newline: str = "\r") -> str:
    return newline.join(segments) + newline


def with_control_id(segments: list[str], control_id: str) -> list[str]:
    fields = segments[0].split("|")
    fields[9] = control_id
    return ["|".join(fields), *segments[1:]]


# The hospital found E0999 and E1001 to be one patient: E0999 is merged into E1001.
EPIC_A40 = [
    r"MSH|^~\&|EPIC|UMC|CHARTVAULT|HIM|20261107090000||ADT^A40^ADT_A39|EPIC-0040|P|2.5.1",
    r"EVN|A40|20261107090000",
    r"PID|1||E1001^^^EPI^MR~123-45-6789^^^SSA^SS||O\T\BRIEN^MARY^ANN||19800214|F",
    r"MRG|E0999^^^EPI^MR",
]
