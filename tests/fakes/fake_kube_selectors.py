"""Label and field selectors of the fake Kubernetes API server."""
import re

from fake_kube_state import ApiError

_SET_TERM = re.compile(r"^\s*([^\s!=]+)\s+(in|notin)\s+\(([^)]*)\)\s*$")
_EQ_TERM = re.compile(r"^\s*([^\s!=]+)\s*(==|=|!=)\s*([^\s]*)\s*$")
_EXISTS_TERM = re.compile(r"^\s*(!?)\s*([^\s!=(),]+)\s*$")


def _split_terms(text):
    terms, depth, current = [], 0, ""
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            terms.append(current)
            current = ""
        else:
            current += ch
    if current.strip():
        terms.append(current)
    return terms


def _term(text):
    m = _SET_TERM.match(text)
    if m:
        key, op = m.group(1), m.group(2)
        values = {v.strip() for v in m.group(3).split(",") if v.strip()}
        if op == "in":
            return lambda labels: labels.get(key) in values
        return lambda labels: labels.get(key) not in values
    m = _EQ_TERM.match(text)
    if m:
        key, op, value = m.groups()
        if op == "!=":
            return lambda labels: labels.get(key) != value
        return lambda labels: labels.get(key) == value
    m = _EXISTS_TERM.match(text)
    if m:
        negate, key = m.groups()
        if negate:
            return lambda labels: key not in labels
        return lambda labels: key in labels
    raise ApiError(400, "BadRequest", "unable to parse requirement: %r" % text)


def label_selector(text):
    """A predicate over objects for =, ==, !=, in, notin, exists and !exists."""
    terms = [_term(t) for t in _split_terms(text or "")]

    def matches(obj):
        labels = obj.get("metadata", {}).get("labels") or {}
        return all(term(labels) for term in terms)
    return matches


def field_selector(text):
    """Supports metadata.name and metadata.namespace with = / == / !=."""
    checks = []
    for term in _split_terms(text or ""):
        m = _EQ_TERM.match(term)
        if not m or m.group(1) not in ("metadata.name", "metadata.namespace"):
            raise ApiError(400, "BadRequest", "field label not supported: %s" % term)
        field, op, value = m.groups()
        checks.append((field.split(".")[1], op == "!=", value))

    def matches(obj):
        meta = obj.get("metadata", {})
        return all((meta.get(f) == v) != neg for f, neg, v in checks)
    return matches


def combined(labels_text, fields_text):
    by_label, by_field = label_selector(labels_text), field_selector(fields_text)
    return lambda obj: by_label(obj) and by_field(obj)
