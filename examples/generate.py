"""Write the example data set and its matching sandbox scenario (seeded).

Run ``python examples/generate.py`` from the repository root; the output is
committed, so the demo and the tests never depend on running it. Every name,
e-mail and phone number is invented: e-mails at example.com / example.org,
US numbers in the fictional 555-01xx range, UK numbers in the 020 7946 0xxx drama range.
"""

from __future__ import annotations

import csv
import hashlib
import json
import random
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SEED = 20260105
#: Enrollments start a day ago, so every first step is due now.
START_AT = "2026-01-05T09:00:00+00:00"

FIRST = [
    "Ada", "Bruno", "Chloé", "Dmitri", "Elif", "Farah", "Gábor", "Hana",
    "Ingrid", "Jonas", "Kwame", "Lucía", "Mateo", "Nadia", "Oskar", "Priya",
    "Quinn", "Rafael", "Søren", "Tamsin", "Uma", "Viktor", "Wen", "Ximena",
    "Yusuf", "Zoë", "Łukasz", "Amélie", "Björn", "Siobhán",
]  # fmt: skip
LAST = [
    "Abbott", "Bergström", "Castro", "Dubois", "Eriksen", "Fischer", "García",
    "Haddad", "Ivanova", "Jansen", "Kowalski", "Lindqvist", "Müller", "Nakamura",
    "O'Brien", "Petrov", "Quintero", "Rossi", "Schäfer", "Tanaka", "Ueda",
    "Vásquez", "Nguyễn", "Wójcik", "Yilmaz", "Zhang", "Ó Súilleabháin",
]  # fmt: skip
AREAS = ["415", "212", "312", "206", "617", "303"]
US_FORMATS = [
    "({a}) 555-{n}", "{a}-555-{n}", "{a}.555.{n}", "+1 {a} 555 {n}",
    "+1{a}555{n}", "1-{a}-555-{n}", " {a} 555 {n} ",
]  # fmt: skip
INVALID_PHONES = ["555-0199", "12345", "+1 555 0100", "n/a", "0000000"]
URL_FORMS = [
    "https://www.linkedin.com/in/{s}/",
    "linkedin.com/in/{s}",
    "http://linkedin.com/in/{s}?trk=public_profile",
    "https://uk.linkedin.com/in/{s}/en",
    "www.linkedin.com/in/{s}",
    "{s}",
]


@dataclass
class WorkspaceSpec:
    external_id: str
    name: str
    location: str
    token: str
    account: str
    country: str
    #: (role, count): how many leads of each kind the workspace has.
    roles: list[tuple[str, int]]


WORKSPACES = [
    WorkspaceSpec(
        "ws-northwind", "Northwind Outreach", "loc_northwind",
        "ghl-token-northwind", "acc_northwind", "US",
        [("connected", 40), ("stranger", 40), ("sms", 32), ("email_only", 14),
         ("bare", 2)],
    ),
    WorkspaceSpec(
        "ws-bluebird", "Bluebird Talent", "loc_bluebird",
        "ghl-token-bluebird", "acc_bluebird", "GB",
        [("stranger", 50), ("email_only", 10)],
    ),
    WorkspaceSpec(
        "ws-cedar", "Cedar Dental Group", "loc_cedar",
        "ghl-token-cedar", "acc_cedar", "US",
        [("sms", 30), ("stranger", 20)],
    ),
    WorkspaceSpec(
        "ws-delta", "Delta Solar Co", "loc_delta",
        "ghl-token-delta", "acc_delta", "US",
        [("stranger", 40), ("sms", 20)],
    ),
]  # fmt: skip

SEQUENCES: list[dict[str, Any]] = [
    {"name": "Northwind warm", "workspace_external_id": "ws-northwind", "steps": [
        {"channel": "linkedin_message", "delay_hours": 0,
         "template": "Hi {first_name}, good to be connected. Open to a chat?"},
        {"channel": "sms", "delay_hours": 48,
         "template": "Hi {first_name}, following up from LinkedIn."}]},
    {"name": "Northwind intro", "workspace_external_id": "ws-northwind", "steps": [
        {"channel": "linkedin_invite", "delay_hours": 0,
         "template": "Hi {first_name}, I work with outreach teams like yours."},
        {"channel": "linkedin_message", "delay_hours": 72,
         "template": "Thanks for connecting, {first_name}!"},
        {"channel": "sms", "delay_hours": 120,
         "template": "Hi {first_name}, a quick question about your pipeline."}]},
    {"name": "Northwind SMS nudge", "workspace_external_id": "ws-northwind",
     "steps": [
        {"channel": "sms", "delay_hours": 0,
         "template": "Hi {first_name}, this is Northwind. Got two minutes?"},
        {"channel": "linkedin_invite", "delay_hours": 48,
         "template": "Hi {first_name}, we spoke by text."}]},
    {"name": "Bluebird candidates", "workspace_external_id": "ws-bluebird",
     "steps": [
        {"channel": "linkedin_invite", "delay_hours": 0,
         "template": "Hi {first_name}, a role at a client may suit you."},
        {"channel": "linkedin_message", "delay_hours": 72,
         "template": "Thanks {first_name}, may I send the details?"}]},
    {"name": "Cedar recall", "workspace_external_id": "ws-cedar", "steps": [
        {"channel": "sms", "delay_hours": 0,
         "template": "Hi {first_name}, time for your check-up at Cedar Dental."},
        {"channel": "linkedin_invite", "delay_hours": 48,
         "template": "Hi {first_name}, from the Cedar Dental team."}]},
    {"name": "Cedar referrals", "workspace_external_id": "ws-cedar", "steps": [
        {"channel": "linkedin_invite", "delay_hours": 0,
         "template": "Hi {first_name}, we partner with practices near you."},
        {"channel": "sms", "delay_hours": 72,
         "template": "Hi {first_name}, Cedar Dental here."}]},
    {"name": "Delta intro", "workspace_external_id": "ws-delta", "steps": [
        {"channel": "linkedin_invite", "delay_hours": 0,
         "template": "Hi {first_name}, solar for your sites?"},
        {"channel": "sms", "delay_hours": 48,
         "template": "Hi {first_name}, Delta Solar following up."}]},
]  # fmt: skip
#: (workspace, role) -> the sequence its leads are enrolled in (none: not enrolled).
ENROLL = {
    ("ws-northwind", "connected"): "Northwind warm",
    ("ws-northwind", "stranger"): "Northwind intro",
    ("ws-northwind", "sms"): "Northwind SMS nudge",
    ("ws-bluebird", "stranger"): "Bluebird candidates",
    ("ws-cedar", "sms"): "Cedar recall",
    ("ws-cedar", "stranger"): "Cedar referrals",
    ("ws-delta", "stranger"): "Delta intro",
}


@dataclass
class World:
    rng: random.Random
    leads: list[dict[str, str]] = field(default_factory=list)
    enrollments: list[dict[str, str]] = field(default_factory=list)
    profiles: dict[str, dict[str, Any]] = field(default_factory=dict)
    contacts: list[dict[str, Any]] = field(default_factory=list)
    conversations: list[dict[str, Any]] = field(default_factory=list)
    messages: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    used_phones: set[str] = field(default_factory=set)
    counter: int = 0


def ascii_of(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text.replace("Ł", "L").replace("ł", "l"))
    kept = "".join(c for c in folded if c.isascii() and (c.isalnum() or c == " "))
    return "-".join(kept.lower().split())


def short_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:10]


def us_phone(world: World) -> tuple[str, str]:
    """(as exported, E.164) for a fresh fictional US number."""
    while True:
        area = world.rng.choice(AREAS)
        number = f"01{world.rng.randrange(100):02d}"
        e164 = f"+1{area}555{number}"
        if e164 not in world.used_phones:
            world.used_phones.add(e164)
            shown = world.rng.choice(US_FORMATS).format(a=area, n=number)
            return shown, e164


def messy_email(world: World, first: str, last: str, n: int) -> str:
    domain = world.rng.choice(["example.com", "example.org"])
    email = f"{ascii_of(first)}.{ascii_of(last)}{n}@{domain}".replace("-", "")
    roll = world.rng.random()
    if roll < 0.12:
        return email.upper()
    if roll < 0.22:
        return f"  {email.title()} "
    return email


def new_lead(world: World, ws: WorkspaceSpec, role: str) -> dict[str, str]:
    world.counter += 1
    n = world.counter
    rng = world.rng
    first, last = rng.choice(FIRST), rng.choice(LAST)
    lead = {
        "external_id": f"lead-{n:04d}",
        "workspace_external_id": ws.external_id,
        "first_name": "" if rng.random() < 0.04 else first,
        "last_name": "" if rng.random() < 0.06 else last,
        "email": messy_email(world, first, last, n),
        "phone": "",
        "linkedin_url": "",
        "ghl_contact_id": "",
    }
    if role in {"connected", "stranger"}:
        slug = f"{ascii_of(first)}-{ascii_of(last)}-{n:04d}"
        lead["linkedin_url"] = rng.choice(URL_FORMS).format(s=slug)
        world.profiles[slug] = {
            "provider_id": f"ACoAA{short_hash(slug)}",
            "public_identifier": slug,
            "first_name": first,
            "last_name": last,
            "is_relationship": role == "connected",
            "network_distance": "FIRST_DEGREE"
            if role == "connected"
            else rng.choice(["SECOND_DEGREE", "THIRD_DEGREE"]),
        }
        if rng.random() < 0.3:
            lead["email"] = ""
    if role in {"sms", "connected"} or (role == "stranger" and rng.random() < 0.5):
        lead["phone"] = phone_for(world, ws)
    if role == "bare":
        lead["email"] = ""
    return lead


def phone_for(world: World, ws: WorkspaceSpec) -> str:
    if ws.country == "GB":
        return world.rng.choice(["020 7946 0{:03d}", "+44 20 7946 0{:03d}"]).format(
            world.rng.randrange(1000)
        )
    if world.rng.random() < 0.05:
        return world.rng.choice(INVALID_PHONES)
    return us_phone(world)[0]


def e164_of(shown: str) -> str | None:
    digits = "".join(c for c in shown if c.isdigit())
    if len(digits) == 10:
        digits = "1" + digits
    if len(digits) == 11 and digits.startswith("1") and digits[4:7] == "555":
        return "+" + digits
    return None


def add_contact(world: World, ws: WorkspaceSpec, lead: dict[str, str]) -> str:
    contact_id = f"ghlc_{short_hash(lead['external_id'] + ws.location)}"
    world.contacts.append(
        {
            "id": contact_id,
            "locationId": ws.location,
            "email": lead["email"].strip().lower() or None,
            "phone": e164_of(lead["phone"]),
            "firstName": lead["first_name"] or None,
            "lastName": lead["last_name"] or None,
        }
    )
    return contact_id


def link_to_ghl(
    world: World, ws: WorkspaceSpec, lead: dict[str, str], role: str
) -> None:
    """Some leads arrive linked; some have a contact to find; the rest get one.

    Cedar's SMS leads all arrive linked: its revoked token is what stops them.
    """
    roll = world.rng.random()
    linked_share = 0.45
    if ws.external_id == "ws-cedar":
        linked_share = 1.0 if role == "sms" else 0.2
    if roll < linked_share:
        lead["ghl_contact_id"] = add_contact(world, ws, lead)
        if lead["phone"] and e164_of(lead["phone"]) and world.rng.random() < 0.4:
            add_conversation(world, ws, lead)
    elif roll < linked_share + 0.2 and lead["email"]:
        add_contact(world, ws, lead)  # found by the repair, adopted


def add_conversation(world: World, ws: WorkspaceSpec, lead: dict[str, str]) -> None:
    contact = lead["ghl_contact_id"]
    conversation_id = f"conv_{short_hash(contact)}"
    world.conversations.append(
        {"id": conversation_id, "contactId": contact, "locationId": ws.location}
    )
    items = []
    for i in range(world.rng.randint(1, 4)):
        inbound = i % 2 == 1
        items.append(
            {
                "id": f"msg_{short_hash(conversation_id + str(i))}",
                "messageType": "TYPE_SMS",
                "type": 2,
                "direction": "inbound" if inbound else "outbound",
                "body": "Sounds good, call me Friday" if inbound else "Hi, free?",
                "dateAdded": f"2026-01-0{4 - i // 2}T1{i}:00:00.000Z",
                "status": "delivered",
                "contactId": contact,
                "conversationId": conversation_id,
            }
        )
    world.messages[conversation_id] = items  # newest first, as GHL serves them


def special_leads(world: World) -> None:
    """The unreachable profile and the lead whose e-mail and phone disagree."""
    northwind = WORKSPACES[0]
    slug = "gone-prospect-0999"
    world.leads.append(
        {
            "external_id": "lead-unreachable",
            "workspace_external_id": northwind.external_id,
            "first_name": "Gwen",
            "last_name": "Gone",
            "email": "gwen.gone@example.org",
            "phone": "",
            "linkedin_url": f"https://www.linkedin.com/in/{slug}/",
            "ghl_contact_id": "",
        }
    )
    world.profiles[slug] = {
        "provider_id": "ACoAAGoneProspect",
        "public_identifier": slug,
        "unreachable": True,
        "error": {"status": 422, "type": "errors/invalid_recipient"},
    }
    world.enrollments.append(enrollment("lead-unreachable", "Northwind intro"))
    shown, e164 = us_phone(world)
    world.leads.append(
        {
            "external_id": "lead-two-contacts",
            "workspace_external_id": northwind.external_id,
            "first_name": "Tess",
            "last_name": "Twofold",
            "email": "TESS.TWOFOLD@EXAMPLE.COM",
            "phone": shown,
            "linkedin_url": "",
            "ghl_contact_id": "",
        }
    )
    world.contacts += [
        {"id": "ghlc_tess_by_email", "locationId": northwind.location,
         "email": "tess.twofold@example.com", "phone": None,
         "firstName": "Tess", "lastName": "Twofold"},
        {"id": "ghlc_tess_by_phone", "locationId": northwind.location,
         "email": None, "phone": e164, "firstName": "T.", "lastName": "Twofold"},
    ]  # fmt: skip


def enrollment(lead_id: str, sequence: str) -> dict[str, str]:
    return {
        "lead_external_id": lead_id,
        "sequence_name": sequence,
        "start_at": START_AT,
    }


def build(world: World) -> None:
    for ws in WORKSPACES:
        for role, count in ws.roles:
            for _ in range(count):
                lead = new_lead(world, ws, role)
                link_to_ghl(world, ws, lead, role)
                world.leads.append(lead)
                sequence = ENROLL.get((ws.external_id, role))
                if sequence and (role != "sms" or e164_of(lead["phone"])):
                    world.enrollments.append(enrollment(lead["external_id"], sequence))
    special_leads(world)


def scenario(world: World) -> dict[str, Any]:
    accounts = []
    for ws in WORKSPACES:
        broken = ws.external_id == "ws-bluebird"
        accounts.append(
            {
                "id": ws.account,
                "name": f"{ws.name} (LinkedIn)",
                "type": "LINKEDIN",
                "created_at": "2024-03-01T09:00:00.000Z",
                "sources": [
                    {
                        "id": f"{ws.account}_MESSAGING",
                        "status": "CREDENTIALS" if broken else "OK",
                    }
                ],
                "disconnected": broken,
            }
        )
    # The demo compresses time: GHL's 100 calls per 10 seconds become 100 per
    # second, and the locations say so in their rate-limit headers.
    locations = {
        ws.location: {
            "token": ws.token,
            "revoked": ws.external_id == "ws-cedar",
            "rate_limit": {"limit": 100, "interval_seconds": 1},
        }
        for ws in WORKSPACES
    }
    locations["loc_delta"]["rate_limit"] = {
        "limit": 5,
        "interval_seconds": 1,
        "retry_after": 1,
    }
    return {
        "unipile": {
            "api_key": "sandbox-unipile-key",
            "accounts": accounts,
            "profiles": world.profiles,
        },
        "ghl": {
            "locations": locations,
            "contacts": world.contacts,
            "conversations": world.conversations,
            "messages": world.messages,
            "message_page_shape": "flat",
            "page_size": 2,
        },
        "slack": {"fail": None},
        "webhook": {"delay": 0.0},
    }


def write_csv(path: Path, rows: list[dict[str, Any]], columns: list[str]) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def main(out: Path = HERE) -> None:
    world = World(rng=random.Random(SEED))
    build(world)
    workspaces = [
        {"external_id": ws.external_id, "name": ws.name,
         "ghl_location_id": ws.location, "ghl_api_key": ws.token,
         "unipile_account_id": ws.account, "country": ws.country}
        for ws in WORKSPACES
    ]  # fmt: skip
    write_csv(out / "workspaces.csv", workspaces, list(workspaces[0]))
    write_csv(out / "leads.csv", world.leads, list(world.leads[0]))
    write_csv(out / "enrollments.csv", world.enrollments, list(world.enrollments[0]))
    text = json.dumps(SEQUENCES, indent=2, ensure_ascii=False) + "\n"
    (out / "sequences.json").write_text(text, encoding="utf-8")
    text = json.dumps(scenario(world), indent=1, ensure_ascii=False) + "\n"
    (out / "sandbox-scenario.json").write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
