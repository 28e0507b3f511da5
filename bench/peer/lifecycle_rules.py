"""The lifecycle rules of SPEC sections 1-3 in plain Python, for the Quix Streams peer.

Pure functions over one customer's state (a JSON-serializable dict), so that the same code
runs inside a Quix Streams stateful `apply` (lifecycle_quix.py) and in the offline
faithfulness check against `lifecycle replay` (check_rules.py).

Times are integers, nanoseconds since the Unix epoch (like the Rust `Timestamp`).

What this module does NOT do, compared with the Rust engine:
- Numbers that overflow to infinity (1e400) are not rejected.
- Timers are a per-customer function (`fire_due`): the caller decides when to call it. The
  Quix app calls it lazily, when the customer's next event arrives (see lifecycle_quix.py);
  check_rules.py calls it eagerly from a global timer heap, as the Rust engine does.
"""

import json
import re
import uuid

import orjson

NS = 1_000_000_000
DAY = 86_400 * NS
MAX_EVENT_BYTES = 1024 * 1024
MAX_ID_BYTES = 128
MAX_FUTURE = DAY


class Rules:
    """The defaults of config/default.toml."""

    mature_min_purchases = 3
    mature_min_tenure_days = 30
    inactivity_days = 60
    churned_after_days = 90
    allowed_lateness = 3600 * NS
    activity_events = frozenset({"purchase", "subscription_started", "engagement"})
    conversion_events = frozenset({"purchase", "subscription_started"})
    churn_signal_events = frozenset({"subscription_cancelled"})
    cooldown_days = 30
    delight_milestones = (10, 25, 50, 100)


R = Rules()
MATURE_TENURE = R.mature_min_tenure_days * DAY
INACTIVITY = R.inactivity_days * DAY
CHURNED_AFTER = R.churned_after_days * DAY
COOLDOWN = R.cooldown_days * DAY
LATENESS_SECS = R.allowed_lateness // NS
RECENT_IDS = 16

KNOWN_TYPES = frozenset(
    {
        "lead_created",
        "engagement",
        "purchase",
        "subscription_started",
        "subscription_cancelled",
        "refund",
        "support_ticket",
        "complaint",
        "feedback",
        "consent_withdrawn",
        "consent_granted",
        "customer_erased",
    }
)
NEED_LEVELS = ("physiological", "safety", "social", "esteem", "self_actualization")
NEED_RANK = {n: i for i, n in enumerate(NEED_LEVELS)}
SEVERITIES = frozenset({"low", "normal", "high"})

CATEGORY = {
    "nurture_lead": "marketing",
    "advocacy_invite": "marketing",
    "retention_offer": "retention",
    "win_back_campaign": "retention",
    "welcome_onboarding": "care",
    "loyalty_reward": "care",
    "welcome_back": "care",
    "service_recovery": "care",
    "detractor_follow_up": "care",
    "surprise_delight": "care",
}

ACTION_NAMESPACE = uuid.UUID(int=0x6C1F8E2A43B54D0E9A615F27C3D8B104)

# KANO evaluation table (SPEC 7): rows functional 1..5, columns dysfunctional 1..5.
_KANO = (
    ("Q", "A", "A", "A", "O"),
    ("R", "I", "I", "I", "M"),
    ("R", "I", "I", "I", "M"),
    ("R", "I", "I", "I", "M"),
    ("R", "R", "R", "R", "Q"),
)


class Rejected(Exception):
    def __init__(self, reason, detail):
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


# ---------------------------------------------------------------------------------------
# Time


_TS = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(Z|([+-])(\d{2}):(\d{2}))\Z"
)
_MDAYS = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
_MIN_NS = -(2**63)
_MAX_NS = 2**63 - 1


def _is_leap(y):
    return (y % 4 == 0 and y % 100 != 0) or y % 400 == 0


def _days_from_civil(y, m, d):
    y = y - 1 if m <= 2 else y
    era = y // 400
    yoe = y - era * 400
    mp = (m + 9) % 12
    doy = (153 * mp + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146_097 + doe - 719_468


def _civil_from_days(z):
    z += 719_468
    era = z // 146_097
    doe = z - era * 146_097
    yoe = (doe - doe // 1460 + doe // 36_524 - doe // 146_096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + 3 if mp < 10 else mp - 9
    return (yoe + era * 400 + 1 if m <= 2 else yoe + era * 400), m, d


def parse_ts(s):
    """RFC 3339 as the SPEC writes it, to nanoseconds; None when malformed."""
    m = _TS.match(s)
    if m is None:
        return None
    y, mo, d, hh, mi, ss = (int(x) for x in m.group(1, 2, 3, 4, 5, 6))
    if not 1 <= mo <= 12 or hh > 23 or mi > 59 or ss > 59 or d < 1:
        return None
    if d > (29 if mo == 2 and _is_leap(y) else _MDAYS[mo - 1]):
        return None
    frac = m.group(7)
    nanos = int(frac[:9].ljust(9, "0")) if frac else 0
    off = 0
    if m.group(8) != "Z":
        oh, om = int(m.group(10)), int(m.group(11))
        if oh > 23 or om > 59:
            return None
        off = oh * 3600 + om * 60
        if m.group(9) == "-":
            off = -off
    secs = _days_from_civil(y, mo, d) * 86_400 + hh * 3600 + mi * 60 + ss - off
    return secs * NS + nanos


_fmt_cache = {}


def fmt_ts(t):
    """`YYYY-MM-DDTHH:MM:SS[.fraction]Z`, the fraction only when not zero."""
    s = _fmt_cache.get(t)
    if s is not None:
        return s
    secs, nanos = divmod(t, NS)
    days, sod = divmod(secs, 86_400)
    y, m, d = _civil_from_days(days)
    s = f"{y:04}-{m:02}-{d:02}T{sod // 3600:02}:{sod // 60 % 60:02}:{sod % 60:02}"
    if nanos:
        s += "." + f"{nanos:09}".rstrip("0")
    s += "Z"
    if len(_fmt_cache) > 200_000:
        _fmt_cache.clear()
    _fmt_cache[t] = s
    return s


# ---------------------------------------------------------------------------------------
# Decoding (SPEC 1)

_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


def _type_name(v):
    if v is None:
        return "null"
    t = type(v)
    if t is bool:
        return "boolean"
    if t is int or t is float:
        return "number"
    if t is str:
        return "string"
    if t is list:
        return "array"
    return "object"


def _take_id(obj, key):
    v = obj.get(key)
    if v is None:
        raise Rejected("missing_field", f"required field {key} is missing")
    if type(v) is not str:
        raise Rejected("wrong_type", f"{key} must be string, not {_type_name(v)}")
    n = len(v) if v.isascii() else len(v.encode())
    if n == 0 or n > MAX_ID_BYTES:
        raise Rejected("invalid_value", f"{key} must be 1..={MAX_ID_BYTES} bytes, it has {n}")
    return v


def _opt_str(data, key):
    v = data.get(key)
    if v is not None and type(v) is not str:
        raise Rejected("wrong_type", f"data.{key} must be a string, not {_type_name(v)}")
    return v


def _amount(data):
    v = data.get("amount")
    if v is None:
        raise Rejected("missing_field", "required field data.amount is missing")
    t = type(v)
    if t is not int and t is not float:
        raise Rejected("wrong_type", f"data.amount must be a number, not {_type_name(v)}")
    if v < 0:
        raise Rejected("invalid_value", "data.amount must be a number >= 0")
    return float(v)


def _int_in(v, path, lo, hi):
    if v is None:
        return None
    t = type(v)
    if t is float:
        raise Rejected("wrong_type", f"{path} must be an integer (no fraction or exponent)")
    if t is not int:
        raise Rejected("wrong_type", f"{path} must be an integer, not {_type_name(v)}")
    if not lo <= v <= hi:
        raise Rejected("invalid_value", f"{path} must be an integer {lo}..={hi}")
    return v


class _DuplicateKey(ValueError):
    pass


def _no_duplicates(pairs):
    d = dict(pairs)
    if len(d) != len(pairs):
        seen = set()
        for k, _ in pairs:
            if k in seen:
                raise _DuplicateKey(k)
            seen.add(k)
    return d


def _no_constant(name):
    raise ValueError(f"{name} is not JSON")


_strict_loads = json.JSONDecoder(
    object_pairs_hook=_no_duplicates, parse_constant=_no_constant
).decode


def decode(raw, now_ns, strict=True):
    """bytes -> event dict {event_id, customer_id, type, at, known, ...}, or raises Rejected.

    strict (the default): the standard library's parser with a hook that rejects duplicate
    keys, as the SPEC requires; strict=False: orjson, about 8x faster to parse, which keeps
    the last of duplicate keys."""
    if len(raw) > MAX_EVENT_BYTES:
        raise Rejected("too_large", f"{len(raw)} bytes, the limit is {MAX_EVENT_BYTES}")
    if strict:
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            raise Rejected("invalid_utf8", f"invalid UTF-8 at byte {e.start}") from None
        try:
            obj = _strict_loads(text)
        except _DuplicateKey as e:
            raise Rejected("duplicate_key", f"duplicate key {e}") from None
        except ValueError as e:
            raise Rejected("invalid_json", str(e)) from None
    else:
        try:
            obj = orjson.loads(raw)
        except orjson.JSONDecodeError as e:
            msg = str(e)
            raise Rejected("invalid_utf8" if "UTF-8" in msg else "invalid_json", msg) from None
    if type(obj) is not dict:
        raise Rejected("not_an_object", f"an event is a JSON object, not {_type_name(obj)}")
    event_id = _take_id(obj, "event_id")
    customer_id = _take_id(obj, "customer_id")
    c = _CONTROL.search(customer_id)
    if c is not None:
        raise Rejected(
            "invalid_value",
            f"customer_id contains the control character U+{ord(c.group()):04X}",
        )
    etype = _take_id(obj, "type")
    occ = obj.get("occurred_at")
    if occ is None:
        raise Rejected("missing_field", "required field occurred_at is missing")
    if type(occ) is not str:
        raise Rejected("wrong_type", f"occurred_at must be string, not {_type_name(occ)}")
    at = parse_ts(occ)
    if at is None:
        raise Rejected("invalid_timestamp", "occurred_at is not an RFC 3339 date-time")
    if at < _MIN_NS:
        raise Rejected("invalid_timestamp", "occurred_at is before the supported range")
    if at > _MAX_NS:
        raise Rejected("future_timestamp", "occurred_at is after 2262-04-11")
    data = obj.get("data")
    if data is None:
        data = {}
    elif type(data) is not dict:
        raise Rejected("wrong_type", f"data must be object, not {_type_name(data)}")
    ev = {"event_id": event_id, "customer_id": customer_id, "type": etype, "at": at}
    known = etype in KNOWN_TYPES
    ev["known"] = known
    if known:
        if etype == "purchase":
            ev["amount"] = _amount(data)
            _opt_str(data, "currency")
            _opt_str(data, "order_id")
            need = _opt_str(data, "need_level")
            if need is not None and need not in NEED_RANK:
                raise Rejected(
                    "invalid_value",
                    "data.need_level must be one of physiological, safety, social, esteem, "
                    "self_actualization",
                )
            ev["need_level"] = need
        elif etype == "refund":
            ev["amount"] = _amount(data)
        elif etype == "support_ticket":
            sev = _opt_str(data, "severity")
            if sev is not None and sev not in SEVERITIES:
                raise Rejected("invalid_value", "data.severity must be one of low, normal, high")
            _opt_str(data, "status")
            ev["severity"] = sev or "normal"
        elif etype == "feedback":
            ev["nps"] = _int_in(data.get("nps"), "data.nps", 0, 10)
            ev["satisfaction"] = _int_in(data.get("satisfaction"), "data.satisfaction", 1, 5)
            _opt_str(data, "feature")
            kano = data.get("kano")
            kclass = None
            if kano is not None:
                if type(kano) is not dict:
                    raise Rejected(
                        "wrong_type", f"data.kano must be an object, not {_type_name(kano)}"
                    )
                f = _int_in(kano.get("functional"), "data.kano.functional", 1, 5)
                d = _int_in(kano.get("dysfunctional"), "data.kano.dysfunctional", 1, 5)
                if f is None:
                    raise Rejected("missing_field", "required field data.kano.functional is missing")
                if d is None:
                    raise Rejected(
                        "missing_field", "required field data.kano.dysfunctional is missing"
                    )
                kclass = _KANO[f - 1][d - 1]
            ev["kano"] = kclass
        elif etype != "customer_erased":
            key = {
                "lead_created": "source",
                "engagement": "channel",
                "subscription_started": "plan",
                "subscription_cancelled": "reason",
                "complaint": "topic",
                "consent_withdrawn": "channel",
                "consent_granted": "channel",
            }[etype]
            _opt_str(data, key)
    if at > now_ns + MAX_FUTURE:
        raise Rejected("future_timestamp", "occurred_at is more than 24 hours after the system time")
    return ev


# ---------------------------------------------------------------------------------------
# The engine (SPEC 2-3)


def new_customer(cid, at):
    return {
        "id": cid,
        "stage": "prospect",
        "seq": 1,
        "entered": at,
        "first_seen": at,
        "first_conv": None,
        "last_act": None,
        "purchases": 0,
        "spend": 0.0,
        "refunds": 0.0,
        "complaints": 0,
        "nps": None,
        "contactable": True,
        "need": None,
        "recent": [],
        "sent": {},
        "offset": None,
    }


def timer(c):
    """(kind, stamp, fires_at) of the timer this state arms, or None."""
    stage = c["stage"]
    if stage == "new" or stage == "mature":
        la = c["last_act"]
        if la is None:
            return None
        stamp = la + INACTIVITY
        return ("inactivity", stamp, stamp + R.allowed_lateness)
    if stage == "churning":
        stamp = c["entered"] + CHURNED_AFTER
        return ("no_reactivation", stamp, stamp + R.allowed_lateness)
    return None


def _meets_mature(c, at):
    fc = c["first_conv"]
    return c["purchases"] >= R.mature_min_purchases and fc is not None and at >= fc + MATURE_TENURE


def _transition(c, frm, reason, at, event_id, explain, facts):
    return {
        "type": "transition",
        "customer_id": c["id"],
        "from": frm,
        "to": c["stage"],
        "reason": reason,
        "at": fmt_ts(at),
        "event_id": event_id,
        "seq": c["seq"],
        "explain": explain,
        "facts": facts,
    }


def _set_stage(c, to, at):
    c["stage"] = to
    c["entered"] = at
    c["seq"] += 1


def _entry_kind(before, after):
    if after == "prospect":
        return "nurture_lead"
    if after in ("new", "mature") and before in ("churning", "churned"):
        return "welcome_back"
    return {
        "new": "welcome_onboarding",
        "mature": "loyalty_reward",
        "churning": "retention_offer",
        "churned": "win_back_campaign",
    }[after]


def _emit(c, planned, at, cause_event_id, cause_name, out, stats):
    """Suppress or send each planned (kind, reason, explain, facts), in order."""
    sent = c["sent"]
    cid = c["id"]
    for kind, reason, explain, facts in planned:
        if not c["contactable"] and kind != "service_recovery":
            stats["suppressed_no_consent"] = stats.get("suppressed_no_consent", 0) + 1
            continue
        last = sent.get(kind)
        if last is not None and at < last + COOLDOWN:
            stats["suppressed_cooldown"] = stats.get("suppressed_cooldown", 0) + 1
            continue
        sent[kind] = at
        rec = {
            "type": "action",
            "action_id": str(uuid.uuid5(ACTION_NAMESPACE, f"{cid}\x1f{kind}\x1f{cause_name}")),
            "kind": kind,
            "category": CATEGORY[kind],
            "customer_id": cid,
            "stage": c["stage"],
            "reason": reason,
            "at": fmt_ts(at),
            "cause_event_id": cause_event_id,
        }
        if c["need"] is not None:
            rec["need_level"] = c["need"]
        rec["explain"] = explain
        rec["facts"] = facts
        out.append(rec)


def fire_due(c, clock, out, stats):
    """Fires this customer's timers due at `clock` (in firing order); returns True if any."""
    fired = False
    while True:
        t = timer(c)
        if t is None or t[2] > clock:
            return fired
        kind, stamp, _ = t
        frm = c["stage"]
        if kind == "inactivity":
            last = c["last_act"]
            to, reason = "churning", "inactivity"
            explain = f"no activity since {fmt_ts(last)}: {R.inactivity_days} days of inactivity"
            facts = {
                "last_activity_at": fmt_ts(last),
                "inactivity_days": R.inactivity_days,
                "allowed_lateness_secs": LATENESS_SECS,
            }
        else:
            to, reason = "churned", "no_reactivation"
            explain = (
                f"churning since {fmt_ts(c['entered'])} with no reactivation for "
                f"{R.churned_after_days} days"
            )
            facts = {
                "churning_since": fmt_ts(c["entered"]),
                "churned_after_days": R.churned_after_days,
                "allowed_lateness_secs": LATENESS_SECS,
            }
        _set_stage(c, to, stamp)
        out.append(_transition(c, frm, reason, stamp, None, explain, facts))
        planned = [(_entry_kind(frm, to), reason, f"entered {to}: {explain}", facts)]
        _emit(c, planned, stamp, None, f"timer:{kind}:{fmt_ts(stamp)}", out, stats)
        fired = True


def _mature_facts(c, at, etype):
    fc = c["first_conv"]
    facts = {}
    if etype is not None:
        facts["event_type"] = etype
    facts["purchase_count"] = c["purchases"]
    facts["mature_min_purchases"] = R.mature_min_purchases
    if fc is not None:
        facts["first_conversion_at"] = fmt_ts(fc)
        facts["days_since_first_conversion"] = (at - fc) // DAY
    facts["mature_min_tenure_days"] = R.mature_min_tenure_days
    return facts


ERASED = object()


def apply(c, ev, offset, out, stats):
    """Applies one decoded, non-ignored event to customer state `c` (None: unknown customer).

    Returns (outcome, state): state is the customer's new state, None when there is none, or
    ERASED when the customer was just erased (the caller deletes it)."""
    etype = ev["type"]
    event_id = ev["event_id"]
    if c is not None:
        if offset is not None and c["offset"] is not None and c["offset"] >= offset:
            return "already_applied", c
        if event_id in c["recent"]:
            return "duplicate", c
    at = ev["at"]
    if etype == "customer_erased":
        if c is None:
            return "nothing_to_erase", None
        out.append(
            {
                "type": "transition",
                "customer_id": c["id"],
                "from": c["stage"],
                "to": None,
                "reason": "erased",
                "at": fmt_ts(at),
                "event_id": event_id,
                "seq": c["seq"] + 1,
                "explain": "customer_erased: every fact about this customer was deleted",
                "facts": {},
            }
        )
        return "applied", ERASED

    net = None  # (stage, reason, explain, facts) of the input's last transition
    if c is None:
        c = new_customer(ev["customer_id"], at)
        before = None
        explain = f"first event seen for this customer ({etype})"
        facts = {"event_type": etype}
        out.append(_transition(c, None, "first_seen", at, event_id, explain, facts))
        net = ("prospect", "first_seen", explain, facts)
    else:
        before = c["stage"]

    # Step 2: counters and flags.
    if at < c["first_seen"]:
        c["first_seen"] = at
    if etype in R.activity_events:
        la = c["last_act"]
        if la is None or at > la:
            c["last_act"] = at
    amount = ev.get("amount", 0.0)
    converts = etype in R.conversion_events and (etype != "purchase" or amount > 0.0)
    if converts:
        fc = c["first_conv"]
        if fc is None or at < fc:
            c["first_conv"] = at
    milestone = None
    if etype == "purchase":
        c["spend"] += amount
        if amount > 0.0:
            c["purchases"] += 1
            if c["purchases"] in R.delight_milestones:
                milestone = c["purchases"]
        need = ev["need_level"]
        if need is not None and (c["need"] is None or NEED_RANK[need] > NEED_RANK[c["need"]]):
            c["need"] = need
    elif etype == "refund":
        c["refunds"] += amount
    elif etype == "complaint":
        c["complaints"] += 1
    elif etype == "feedback":
        if ev["nps"] is not None:
            c["nps"] = ev["nps"]
    elif etype == "consent_withdrawn":
        c["contactable"] = False
    elif etype == "consent_granted":
        c["contactable"] = True

    # Rules 3-6, each on the stage the previous one left.
    stage = c["stage"]
    if converts and stage == "prospect":
        facts = {"event_type": etype, "purchase_count": c["purchases"], "total_spend": c["spend"]}
        explain = f"first conversion ({etype})"
        _set_stage(c, "new", at)
        out.append(_transition(c, stage, "first_conversion", at, event_id, explain, facts))
        net = ("new", "first_conversion", explain, facts)
        stage = "new"
    if converts and (stage == "churning" or stage == "churned"):
        mature = _meets_mature(c, at)
        to = "mature" if mature else "new"
        facts = _mature_facts(c, at, etype)
        explain = (
            f"a conversion ({etype}) while {stage}; the mature rule "
            f"{'holds' if mature else 'does not hold'}"
        )
        _set_stage(c, to, at)
        out.append(_transition(c, stage, "reactivated", at, event_id, explain, facts))
        net = (to, "reactivated", explain, facts)
        stage = to
    if stage == "new" and _meets_mature(c, at):
        facts = _mature_facts(c, at, None)
        explain = (
            f"{c['purchases']} purchases >= {R.mature_min_purchases} and "
            f"{facts['days_since_first_conversion']} days since the first conversion >= "
            f"{R.mature_min_tenure_days}"
        )
        _set_stage(c, "mature", at)
        out.append(_transition(c, stage, "mature_criteria", at, event_id, explain, facts))
        net = ("mature", "mature_criteria", explain, facts)
        stage = "mature"
    if etype in R.churn_signal_events and (stage == "new" or stage == "mature"):
        facts = {"event_type": etype}
        explain = f"a churn signal ({etype})"
        reason = f"churn_signal:{etype}"
        _set_stage(c, "churning", at)
        out.append(_transition(c, stage, reason, at, event_id, explain, facts))
        net = ("churning", reason, explain, facts)
        stage = "churning"

    recent = c["recent"]
    recent.append(event_id)
    if len(recent) > RECENT_IDS:
        del recent[0]
    if offset is not None:
        c["offset"] = offset

    # Actions: the net change's entry action first, then the event's own, in table order.
    planned = []
    if net is not None:
        after, reason, explain, facts = net
        planned.append((_entry_kind(before, after), reason, f"entered {after}: {explain}", facts))
    if etype == "complaint":
        planned.append(
            ("service_recovery", "complaint", "the customer complained", {"event_type": "complaint"})
        )
    elif etype == "support_ticket":
        if ev["severity"] == "high":
            planned.append(
                (
                    "service_recovery",
                    "high_severity_ticket",
                    "a support ticket of severity high",
                    {"event_type": "support_ticket", "severity": "high"},
                )
            )
    elif etype == "feedback":
        nps = ev["nps"]
        if nps is not None and nps <= 6:
            planned.append(
                ("detractor_follow_up", "nps_detractor", f"NPS {nps} <= 6: a detractor", {"nps": nps})
            )
        if nps is not None and nps >= 9 and stage == "mature":
            planned.append(
                (
                    "advocacy_invite",
                    "nps_promoter",
                    f"NPS {nps} >= 9 from a mature customer: a promoter",
                    {"nps": nps},
                )
            )
        sat = ev["satisfaction"]
        if ev["kano"] == "M" and sat is not None and sat <= 2:
            planned.append(
                (
                    "service_recovery",
                    "kano_must_be_unsatisfied",
                    f"a must-be feature (KANO) with satisfaction {sat} <= 2: a basic need unmet",
                    {"kano_class": "must_be", "satisfaction": sat},
                )
            )
    elif etype == "purchase" and milestone is not None and stage == "mature":
        planned.append(
            (
                "surprise_delight",
                "purchase_milestone",
                f"purchase number {milestone} is a delight milestone",
                {"purchase_count": c["purchases"], "milestone": milestone},
            )
        )
    if planned:
        _emit(c, planned, at, event_id, f"event:{event_id}", out, stats)
    return "applied", c
